# Bad input gets an MLflow-shaped error, the server keeps serving, and nothing stored changes.
import json

import requests

CREATE = "/api/2.0/mlflow/experiments/create"


def _experiments(s):
    r = s.api("POST", "/api/2.0/mlflow/experiments/search", json={"max_results": 1000, "view_type": "ALL"})
    assert r.status_code == 200
    return r.json().get("experiments", [])


def test_oversized_body_is_refused_and_nothing_changes(start_keel, tmp_path):
    s = start_keel(tmp_path / "d", "--max-body-bytes", "4096")
    before = _experiments(s)
    r = requests.post(s.url + CREATE, data=json.dumps({"name": "x" * 10000}),
                      headers={"Content-Type": "application/json"})
    assert r.status_code == 413
    assert r.json()["error_code"] == "INVALID_PARAMETER_VALUE"
    assert _experiments(s) == before
    assert s.api("POST", CREATE, json={"name": "small"}).status_code == 200


def test_sql_metacharacters_are_data(keel):
    nasty = "x'); DROP TABLE runs; --\" `a` %_"
    r = keel.api("POST", CREATE, json={"name": nasty, "tags": [{"key": "k", "value": nasty}]})
    assert r.status_code == 200, r.text
    exp_id = r.json()["experiment_id"]
    got = keel.api("GET", "/api/2.0/mlflow/experiments/get-by-name",
                   params={"experiment_name": nasty}).json()["experiment"]
    assert got["experiment_id"] == exp_id and got["tags"] == [{"key": "k", "value": nasty}]
    r = keel.api("POST", "/api/2.0/mlflow/runs/create", json={"experiment_id": exp_id})
    assert r.status_code == 200
    r = keel.api("POST", "/api/2.0/mlflow/runs/search",
                 json={"experiment_ids": [exp_id], "filter": f"tags.k = '{nasty}'",
                       "max_results": 10})
    assert r.status_code in (200, 400)
    assert "error_code" not in r.json() or r.json()["error_code"] == "INVALID_PARAMETER_VALUE"


def test_invalid_utf8_and_truncated_json(keel):
    for body in (b'{"name": "\xff\xfe"}', b'{"name": "abc', b"\x00\x01", b"[1, 2]"):
        r = requests.post(keel.url + CREATE, data=body, headers={"Content-Type": "application/json"})
        assert r.status_code == 400
        assert r.json()["error_code"] == "INVALID_PARAMETER_VALUE"
    assert [e["name"] for e in _experiments(keel)] == ["Default"]


def test_wrong_types_unknown_routes_and_methods(keel):
    r = keel.api("POST", CREATE, json={"name": 42})
    assert r.status_code == 400 and "Hint: Value was of type 'int'" in r.json()["message"]
    assert keel.api("GET", "/api/2.0/mlflow/no/such/thing").status_code == 404
    assert keel.api("DELETE", "/api/2.0/mlflow/experiments/get").status_code == 405
    r = keel.api("POST", CREATE, json={"name": "after-errors", "unknown_field": [1, {"a": 2}]})
    assert r.status_code == 200  # unknown fields are ignored, as MLflow's server does


def test_path_traversal_in_names(keel):
    rid = keel.api("POST", "/api/2.0/mlflow/runs/create", json={"experiment_id": "0"}).json()["run"]["info"]["run_id"]
    for kind, path, body in (
        ("metric", "log-metric", {"key": "../x", "value": 1.0, "timestamp": 1}),
        ("parameter", "log-parameter", {"key": "/etc/passwd", "value": "v"}),
        ("tag", "set-tag", {"key": "a/../../b", "value": "v"}),
    ):
        r = keel.api("POST", f"/api/2.0/mlflow/runs/{path}", json={"run_id": rid, **body})
        assert r.status_code == 400, (kind, r.text)
        assert r.json()["message"].startswith(f"Invalid {kind} name")
    data = keel.api("GET", f"/api/2.0/mlflow/runs/get?run_id={rid}").json()["run"]["data"]
    assert "metrics" not in data and "params" not in data
