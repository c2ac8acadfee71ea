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
                               ("models:/r", 400, "expected"), ("runs:/ffff/model", 404, "ffff"),
                               ("s3://b/x", 400, "expected models:/")):
        r = _resolve(keel, uri)
        assert r.status_code == status and words in r.json()["message"], (uri, r.text)
        assert uri in r.json()["message"]
