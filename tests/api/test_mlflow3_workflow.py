"""The MLflow 3 client's classic workflow, request by request as the client sends it (the
sequence the conformance README lists): log_model with registered_model_name, an alias,
and loading the model back by alias and by models:/<model_id>, with the client's headers.
Every answer the client reads is checked, and the files come back byte for byte."""
import json

import replay

API = "/api/2.0/mlflow"
ART = "/api/2.0/mlflow-artifacts/artifacts"


class Client:
    """Requests carrying the MLflow 3 client's headers; fails on any non-2xx answer
    unless `ok` lists the status."""

    def __init__(self, server):
        self.s = server

    def call(self, method, path, ok=(200,), **kw):
        headers = {**replay.CLIENT_3, **kw.pop("headers", {})}
        r = self.s.api(method, path, headers=headers, **kw)
        assert r.status_code in ok, (method, path, r.status_code, r.text)
        return r


def _log_model(c, exp_id, run_id, files):
    """mlflow.<flavor>.log_model(..., registered_model_name="churn") as the 3.x client
    drives it, up to the upload and the finalize."""
    c.call("GET", f"{API}/runs/get", params={"run_id": run_id})
    model = c.call("POST", f"{API}/logged-models", json={
        "experiment_id": exp_id, "name": "model", "source_run_id": run_id, "model_type": "",
        "params": [{"key": "max_depth", "value": "3"}],
        "tags": [{"key": "mlflow.source.name", "value": "train.py"}]}).json()["model"]["info"]
    assert model["status"] == "LOGGED_MODEL_PENDING"
    assert model["artifact_uri"] == f"mlflow-artifacts:/{exp_id}/models/{model['model_id']}/artifacts"
    mid = model["model_id"]
    c.call("POST", f"{API}/runs/outputs", json={"run_id": run_id, "models": [{"model_id": mid, "step": 0}]})
    run = c.call("GET", f"{API}/runs/get", params={"run_id": run_id}).json()["run"]
    assert run["outputs"]["model_outputs"] == [{"model_id": mid, "step": 0}]
    for m in run["data"].get("metrics", []):
        hist = c.call("GET", f"{API}/metrics/get-history",
                      params={"run_id": run_id, "metric_key": m["key"], "max_results": 25000}).json()
        assert hist["metrics"]
        c.call("POST", f"{API}/runs/log-batch", json={"run_id": run_id, "metrics": [
            {**x, "model_id": mid} for x in hist["metrics"]]})
    c.call("DELETE", f"{API}/logged-models/{mid}/tags/mlflow.model.isExternal", ok=(404,))
    c.call("GET", f"{API}/logged-models/{mid}")
    for name, data in files.items():
        c.call("PUT", f"{ART}/{exp_id}/models/{mid}/artifacts/{name}", data=data)
    done = c.call("PATCH", f"{API}/logged-models/{mid}", json={"model_id": mid, "status": "LOGGED_MODEL_READY"})
    assert done.json()["model"]["info"]["status"] == "LOGGED_MODEL_READY"
    return mid


def _download_all(c, artifact_uri):
    """What the client does to load files from an mlflow-artifacts URI: list, recurse,
    download each file."""
    root = artifact_uri[len("mlflow-artifacts:/"):]
    out = {}

    def walk(rel):
        path = f"{root}/{rel}" if rel else root
        for f in c.call("GET", ART, params={"path": path}).json().get("files", []):
            name = f"{rel}/{f['path']}" if rel else f["path"]
            if f["is_dir"]:
                walk(name)
            else:
                out[name] = c.call("GET", f"{ART}/{root}/{name}").content
    walk("")
    return out


def test_log_register_alias_and_load_like_the_mlflow3_client(keel):
    c = Client(keel)
    files = {"MLmodel": b"artifact_path: model\nflavors:\n  python_function: {}\n",
             "model.ubj": bytes(range(256)) * 64, "metadata/python_env.yaml": b"python: 3.11\n"}
    # set_experiment + start_run + training metrics
    c.call("GET", f"{API}/experiments/get-by-name", params={"experiment_name": "churn"}, ok=(404,))
    exp_id = c.call("POST", f"{API}/experiments/create", json={"name": "churn"}).json()["experiment_id"]
    c.call("GET", f"{API}/experiments/get", params={"experiment_id": exp_id})
    run = c.call("POST", f"{API}/runs/create", json={"experiment_id": exp_id, "start_time": 1700000000000,
                                                      "tags": [{"key": "mlflow.user", "value": "alice"}]}).json()["run"]
    assert run["inputs"] == {}
    run_id = run["info"]["run_id"]
    c.call("POST", f"{API}/runs/log-batch", json={"run_id": run_id, "metrics": [
        {"key": "loss", "value": v, "timestamp": 1700000000000 + i, "step": i} for i, v in enumerate((0.7, 0.5, 0.4))]})
    mid = _log_model(c, exp_id, run_id, files)

    # ... with registered_model_name
    c.call("POST", f"{API}/registered-models/create", json={"name": "churn"})
    mv = c.call("POST", f"{API}/model-versions/create", json={
        "name": "churn", "source": f"models:/{mid}", "model_id": mid}).json()["model_version"]
    assert (mv["version"], mv["run_id"], mv["source"]) == ("1", run_id, f"models:/{mid}")
    assert "model_id" not in mv
    tags = {t["key"]: t["value"] for t in c.call("GET", f"{API}/logged-models/{mid}").json()["model"]["info"]["tags"]}
    entries = json.loads(tags["mlflow.modelVersions"]) + [{"name": "churn", "version": "1"}]
    c.call("GET", f"{API}/logged-models/{mid}")
    c.call("PATCH", f"{API}/logged-models/{mid}/tags",
           json={"tags": [{"key": "mlflow.modelVersions", "value": json.dumps(entries)}]})

    # the model carries the metrics re-sent with its id
    model = c.call("GET", f"{API}/logged-models/{mid}").json()["model"]
    assert sorted(m["value"] for m in model["data"]["metrics"]) == [0.4, 0.5, 0.7]
    assert {m["model_id"] for m in model["data"]["metrics"]} == {mid}

    # set_registered_model_alias + get_model_version_by_alias
    c.call("GET", f"{API}/registered-models/get", params={"name": "churn"})
    c.call("POST", f"{API}/registered-models/alias", json={"name": "churn", "alias": "champion", "version": "1"})
    by_alias = c.call("GET", f"{API}/registered-models/alias", params={"name": "churn", "alias": "champion"}).json()
    assert by_alias["model_version"]["aliases"] == ["champion"]

    # pyfunc.load_model("models:/churn@champion")
    c.call("GET", f"{API}/registered-models/get", params={"name": "churn"})
    uri = c.call("GET", f"{API}/model-versions/get-download-uri", params={"name": "churn", "version": "1"}).json()
    assert uri["artifact_uri"] == f"mlflow-artifacts:/{exp_id}/models/{mid}/artifacts"
    assert _download_all(c, uri["artifact_uri"]) == files

    # pyfunc.load_model("models:/<model_id>")
    info = c.call("GET", f"{API}/logged-models/{mid}").json()["model"]["info"]
    assert _download_all(c, info["artifact_uri"]) == files

    # register_model("runs:/<run>/model") finds the model through logged-model search
    listing = c.call("GET", ART, params={"path": f"{exp_id}/{run_id}/artifacts/model"}).json()
    assert listing == {}
    found = c.call("POST", f"{API}/logged-models/search",
                   json={"experiment_ids": [exp_id], "filter": "name = 'model'"}).json()["models"]
    assert [m["info"]["model_id"] for m in found if m["info"]["source_run_id"] == run_id] == [mid]

    # the keel side of models:/<model_id>: serving and batch resolve it to the same files
    res = c.call("GET", "/api/2.0/keel/models/resolve", params={"uri": f"models:/{mid}"}).json()
    assert res["location"] == info["artifact_uri"] and res["run_id"] == run_id
