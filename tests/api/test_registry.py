# The model registry beyond the recorded exchanges: aliases that move, renames that carry
# versions, tags and aliases along, deletes that cascade as MLflow's do, version numbers
# never reused, sources given as runs:/ URIs, and models:/ URIs resolved inside keel.
RM = "/api/2.0/mlflow/registered-models"
MV = "/api/2.0/mlflow/model-versions"


def _run(s):
    return s.api("POST", "/api/2.0/mlflow/runs/create", json={"experiment_id": "0"}).json()["run"]["info"]


def _version(s, name, source, run_id=""):
    r = s.api("POST", f"{MV}/create", json={"name": name, "source": source, "run_id": run_id})
    assert r.status_code == 200, r.text
    return r.json()["model_version"]


def _resolve(s, uri):
    return s.api("GET", "/api/2.0/keel/models/resolve", params={"uri": uri})


def test_aliases_renames_and_cascades(keel):
    run = _run(keel)
    assert keel.api("POST", f"{RM}/create", json={"name": "m", "tags": [{"key": "t", "value": "1"}]}).status_code == 200
    v1 = _version(keel, "m", f"runs:/{run['run_id']}/model", run["run_id"])
    v2 = _version(keel, "m", "s3://bucket/m/2")
    assert (v1["version"], v2["version"]) == ("1", "2")
    # a runs:/ source downloads from the run's artifacts
    uri = keel.api("GET", f"{MV}/get-download-uri", params={"name": "m", "version": "1"}).json()
    assert uri == {"artifact_uri": run["artifact_uri"] + "/model"}
    # a models:/ source, from the version it names
    keel.api("POST", f"{RM}/create", json={"name": "copy"})
    _version(keel, "copy", "models:/m/1")
    uri = keel.api("GET", f"{MV}/get-download-uri", params={"name": "copy", "version": "1"}).json()
    assert uri == {"artifact_uri": run["artifact_uri"] + "/model"}
    r = keel.api("POST", f"{MV}/create", json={"name": "copy", "source": "models:/m/77"})
    assert r.status_code == 500 and "Unable to fetch model" in r.json()["message"]

    keel.api("POST", f"{RM}/alias", json={"name": "m", "alias": "champion", "version": "1"})
    assert _resolve(keel, "models:/m@champion").json()["version"] == "1"
    keel.api("POST", f"{RM}/alias", json={"name": "m", "alias": "champion", "version": "2"})
    got = _resolve(keel, "models:/m@champion").json()
    assert got == {"uri": "models:/m@champion", "location": "s3://bucket/m/2", "name": "m", "version": "2"}
    assert keel.api("GET", f"{MV}/get", params={"name": "m", "version": "1"}).json()["model_version"].get("aliases") is None

    r = keel.api("POST", f"{RM}/rename", json={"name": "m", "new_name": "m2"}).json()["registered_model"]
    assert r["name"] == "m2" and r["aliases"] == [{"alias": "champion", "version": "2"}]
    assert r["tags"] == [{"key": "t", "value": "1"}]
    assert {v["version"] for v in r["latest_versions"]} == {"2"}  # both in stage None: the latest
    assert keel.api("GET", f"{MV}/get", params={"name": "m2", "version": "1"}).status_code == 200
    assert _resolve(keel, "models:/m@champion").status_code == 404
    assert _resolve(keel, "models:/m2/1").json()["location"] == run["artifact_uri"] + "/model"

    # deleting a version drops its aliases; its number is not reused
    assert keel.api("DELETE", f"{MV}/delete", json={"name": "m2", "version": "2"}).status_code == 200
    assert _resolve(keel, "models:/m2@champion").status_code == 404
    assert _version(keel, "m2", "s3://bucket/m/3")["version"] == "3"

    # deleting the model deletes its versions; the name can be used again
    assert keel.api("DELETE", f"{RM}/delete", json={"name": "m2"}).status_code == 200
    assert keel.api("GET", f"{MV}/get", params={"name": "m2", "version": "3"}).status_code == 404
    assert keel.api("POST", f"{RM}/create", json={"name": "m2"}).status_code == 200
    assert _version(keel, "m2", "s3://x/y")["version"] == "1"


def test_model_uris_resolve_or_say_why(keel):
    run = _run(keel)
    keel.api("POST", f"{RM}/create", json={"name": "r"})
    _version(keel, "r", "s3://b/1")
    _version(keel, "r", "s3://b/2")
    keel.api("POST", f"{MV}/transition-stage", json={"name": "r", "version": "1", "stage": "production"})
    assert _resolve(keel, "models:/r/Production").json()["version"] == "1"
    assert _resolve(keel, "models:/r/latest").json()["version"] == "2"
    assert _resolve(keel, f"runs:/{run['run_id']}/model").json() == {
        "uri": f"runs:/{run['run_id']}/model", "location": run["artifact_uri"] + "/model",
        "run_id": run["run_id"]}
    assert _resolve(keel, "/opt/models/x").json()["location"] == "/opt/models/x"
    for uri, status, words in (("models:/r/9", 404, "version=9"), ("models:/nope/1", 404, "nope"),
                               ("models:/r@none", 404, "alias none"), ("models:/r/Staging", 404, "Staging"),
                               ("models:/r", 404, "Logged model with ID 'r' not found"),
                               ("models:/r/", 400, "expected"), ("runs:/ffff/model", 404, "ffff"),
                               ("s3://b/x", 400, "expected models:/")):
        r = _resolve(keel, uri)
        assert r.status_code == status and words in r.json()["message"], (uri, r.text)
        assert uri in r.json()["message"]


LM = "/api/2.0/mlflow/logged-models"


def _logged_model(s, run_id=None, name="model"):
    body = {"experiment_id": "0", "name": name}
    if run_id:
        body["source_run_id"] = run_id
    r = s.api("POST", LM, json=body)
    assert r.status_code == 200, r.text
    return r.json()["model"]["info"]


def test_versions_from_logged_models(keel):
    """model_id registration: the run comes from the model, the files are the
    model's, and the model records every version made from it."""
    run = _run(keel)
    lm = _logged_model(keel, run["run_id"])
    keel.api("POST", f"{RM}/create", json={"name": "Modèle"})
    r = keel.api("POST", f"{MV}/create", json={"name": "Modèle", "source": f"models:/{lm['model_id']}",
                                                "model_id": lm["model_id"]})
    assert r.status_code == 200, r.text
    assert r.json()["model_version"]["run_id"] == run["run_id"]
    # an explicit run_id wins over the model's
    other = _run(keel)
    r = keel.api("POST", f"{MV}/create", json={"name": "Modèle", "source": f"models:/{lm['model_id']}",
                                                "model_id": lm["model_id"], "run_id": other["run_id"]})
    assert r.json()["model_version"]["run_id"] == other["run_id"]
    uri = keel.api("GET", f"{MV}/get-download-uri", params={"name": "Modèle", "version": "2"}).json()
    assert uri == {"artifact_uri": lm["artifact_uri"]}
    tags = {t["key"]: t["value"] for t in keel.api("GET", f"{LM}/{lm['model_id']}").json()["model"]["info"]["tags"]}
    # json.dumps form, non-ASCII escaped as Python writes it
    assert tags["mlflow.modelVersions"] == ('[{"name": "Mod\\u00e8le", "version": 1}, '
                                            '{"name": "Mod\\u00e8le", "version": 2}]')
    res = _resolve(keel, f"models:/{lm['model_id']}").json()
    assert res == {"uri": f"models:/{lm['model_id']}", "location": lm["artifact_uri"],
                   "run_id": run["run_id"], "model_id": lm["model_id"]}


def test_version_from_deleted_or_unknown_logged_model_changes_nothing(keel):
    lm = _logged_model(keel)
    keel.api("POST", f"{RM}/create", json={"name": "d"})
    assert keel.api("DELETE", f"{LM}/{lm['model_id']}").status_code == 200
    for body in ({"source": f"models:/{lm['model_id']}", "model_id": lm["model_id"]},
                 {"source": "s3://bucket/model", "model_id": lm["model_id"]},
                 {"source": "s3://bucket/model", "model_id": "m-" + "0" * 32}):
        r = keel.api("POST", f"{MV}/create", json={"name": "d", **body})
        assert r.status_code in (404, 500), r.text
        assert "not found" in r.json()["message"]
        assert set(r.json()) == {"error_code", "message", "sqlstate", "error_class"}
    rm = keel.api("GET", f"{RM}/get", params={"name": "d"}).json()["registered_model"]
    assert "latest_versions" not in rm
    # the next version is still 1: nothing was used up
    assert _version(keel, "d", "s3://bucket/model")["version"] == "1"
