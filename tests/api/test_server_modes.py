# keel server's artifact modes: the artifact URIs experiments and runs get are formed as
# MLflow forms them for a proxied root, a file: root, a relative local root, and with
# artifact serving off; artifacts/list reads a run's local artifact directory.
import os


def _exp_and_run(s, name="e"):
    exp_id = s.api("POST", "/api/2.0/mlflow/experiments/create", json={"name": name}).json()["experiment_id"]
    exp = s.api("GET", f"/api/2.0/mlflow/experiments/get?experiment_id={exp_id}").json()["experiment"]
    run = s.api("POST", "/api/2.0/mlflow/runs/create", json={"experiment_id": exp_id}).json()["run"]
    return exp, run["info"]


def test_proxied_root_is_the_default(start_keel, tmp_path):
    s = start_keel(tmp_path / "d")
    exp, info = _exp_and_run(s)
    assert exp["artifact_location"] == f"mlflow-artifacts:/{exp['experiment_id']}"
    assert info["artifact_uri"] == f"mlflow-artifacts:/{exp['experiment_id']}/{info['run_id']}/artifacts"
    default = s.api("GET", "/api/2.0/mlflow/experiments/get?experiment_id=0").json()["experiment"]
    assert default["artifact_location"] == "mlflow-artifacts:/0"


def test_file_root_with_query_keeps_query(start_keel, tmp_path):
    root = f"file://{tmp_path}/art"
    s = start_keel(tmp_path / "d", "--default-artifact-root", root)
    exp, info = _exp_and_run(s)
    assert exp["artifact_location"] == f"{root}/{exp['experiment_id']}"
    assert info["artifact_uri"] == f"{root}/{exp['experiment_id']}/{info['run_id']}/artifacts"
    r = s.api("POST", "/api/2.0/mlflow/experiments/create",
              json={"name": "s3", "artifact_location": "s3://bucket/base?region=x"})
    eid = r.json()["experiment_id"]
    run = s.api("POST", "/api/2.0/mlflow/runs/create", json={"experiment_id": eid}).json()["run"]["info"]
    assert run["artifact_uri"] == f"s3://bucket/base/{run['run_id']}/artifacts?region=x"


def test_no_serve_artifacts_uses_an_absolute_local_root(start_keel, tmp_path):
    s = start_keel(tmp_path / "d", "--no-serve-artifacts", "--data-dir", str(tmp_path / "kd"))
    exp, info = _exp_and_run(s)
    loc = exp["artifact_location"]
    assert os.path.isabs(loc) and loc == f"{tmp_path}/kd/artifacts/{exp['experiment_id']}"
    assert info["artifact_uri"] == f"{loc}/{info['run_id']}/artifacts"

    # artifacts/list reads the run's directory: run-relative paths, sorted, sizes of files
    run_dir = info["artifact_uri"]
    os.makedirs(f"{run_dir}/model/data")
    with open(f"{run_dir}/model/MLmodel", "w") as f:
        f.write("flavors: {}\n")
    open(f"{run_dir}/empty.txt", "w").close()
    r = s.api("GET", f"/api/2.0/mlflow/artifacts/list?run_id={info['run_id']}").json()
    assert r == {"root_uri": run_dir, "files": [
        {"path": "empty.txt", "is_dir": False}, {"path": "model", "is_dir": True}]}
    r = s.api("GET", f"/api/2.0/mlflow/artifacts/list?run_id={info['run_id']}&path=model").json()
    assert r["files"] == [{"path": "model/MLmodel", "is_dir": False, "file_size": 12},
                          {"path": "model/data", "is_dir": True}]
    r = s.api("GET", f"/api/2.0/mlflow/artifacts/list?run_id={info['run_id']}&path=%252e%252e%252f")
    assert r.status_code == 400 and r.json()["message"] == "Invalid path"


def test_relative_root_is_resolved_against_the_working_directory(start_keel, tmp_path):
    s = start_keel(tmp_path / "d", "--default-artifact-root", "./rel-root")
    exp, _ = _exp_and_run(s)
    loc = exp["artifact_location"]
    assert os.path.isabs(loc) and loc.endswith(f"/rel-root/{exp['experiment_id']}") and "/./" not in loc
