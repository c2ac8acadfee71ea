# Hostile input at scale: a seeded stream of mangled requests (truncated and mutated JSON,
# wrong types, random paths, odd methods, invalid UTF-8, hostile filters) against every
# route family. The server must answer each with a well-formed MLflow-shaped error or a
# success, never crash (the suite also runs on the ASan+UBSan build), and keep serving.
import json
import random

import requests

SEEDS = [
    ("POST", "/api/2.0/mlflow/experiments/create", {"name": "e", "tags": [{"key": "k", "value": "v"}]}),
    ("POST", "/api/2.0/mlflow/runs/create", {"experiment_id": "0", "run_name": "r", "start_time": 1}),
    ("POST", "/api/2.0/mlflow/runs/log-batch", {"run_id": "RUN", "metrics": [{"key": "m", "value": 1.0, "timestamp": 1, "step": 0}], "params": [{"key": "p", "value": "v"}], "tags": [{"key": "t", "value": "v"}]}),
    ("POST", "/api/2.0/mlflow/runs/search", {"experiment_ids": ["0"], "filter": "metrics.m > 0 and params.p = 'v'", "order_by": ["metrics.m DESC"], "max_results": 10}),
    ("POST", "/api/2.0/mlflow/experiments/search", {"max_results": 10, "filter": "name LIKE '%e%'", "order_by": ["name ASC"]}),
    ("POST", "/api/2.0/mlflow/runs/log-metric", {"run_id": "RUN", "key": "m", "value": 2.0, "timestamp": 2, "step": 1}),
    ("POST", "/api/2.0/mlflow/runs/log-inputs", {"run_id": "RUN", "datasets": [{"dataset": {"name": "d", "digest": "x", "source_type": "local", "source": "s"}}]}),
    ("POST", "/api/2.0/mlflow/registered-models/create", {"name": "m", "tags": [{"key": "k", "value": "v"}]}),
    ("POST", "/api/2.0/mlflow/model-versions/create", {"name": "m", "source": "s3://b/m", "run_id": "RUN"}),
    ("POST", "/api/2.0/mlflow/registered-models/alias", {"name": "m", "alias": "a", "version": "1"}),
]
GET_PATHS = [
    "/api/2.0/mlflow/runs/get?run_id=RUN",
    "/api/2.0/mlflow/metrics/get-history?run_id=RUN&metric_key=m",
    "/api/2.0/mlflow/registered-models/search?filter=name+LIKE+%27m%25%27",
    "/api/2.0/mlflow/model-versions/search?filter=run_id+IN+(%27a%27)",
    "/api/2.0/mlflow-artifacts/artifacts?path=0",
    "/api/2.0/keel/models/resolve?uri=models:/m@a",
    "/api/2.0/mlflow/metrics/get-history-bulk-interval?run_ids=RUN&metric_key=m",
]
JUNK = ["", "null", "[]", "{", "\"\\ud800\"", "1e999", "{\"a\":" * 200, "\xff\xfe", "'; DROP TABLE runs; --",
        "../../etc/passwd", "%00", "`", "metrics.`a` >>> ", "a" * 5000, -1, 2**70, 1.5, True, None, [], {}]


def _mutate(rng, obj):
    if isinstance(obj, dict):
        obj = dict(obj)
        key = rng.choice(list(obj) + ["extra"])
        choice = rng.random()
        if choice < 0.3:
            obj.pop(key, None)
        elif choice < 0.8:
            obj[key] = rng.choice(JUNK)
        else:
            obj[key] = _mutate(rng, obj.get(key, {}))
        return obj
    if isinstance(obj, list):
        return [_mutate(rng, x) for x in obj] if obj and rng.random() < 0.7 else rng.choice(JUNK)
    return rng.choice(JUNK)


def _check(r):
    assert r.status_code in (200, 206, 400, 404, 405, 413, 416, 500, 501), r.status_code
    if r.headers.get("Content-Type", "").startswith("application/json"):
        body = r.json()
        if r.status_code >= 400:
            assert set(body) == {"error_code", "message"}, body


def test_mangled_requests_never_hurt(keel):
    rng = random.Random(20261126)
    run_id = keel.api("POST", "/api/2.0/mlflow/runs/create", json={"experiment_id": "0"}).json()["run"]["info"]["run_id"]
    s = requests.Session()
    for i in range(1500):
        kind = rng.random()
        if kind < 0.6:
            method, path, body = rng.choice(SEEDS)
            body = json.loads(json.dumps(body).replace("RUN", run_id))
            payload = json.dumps(_mutate(rng, body)).encode()
            if rng.random() < 0.2:  # truncated or corrupted bytes
                cut = rng.randrange(len(payload) + 1)
                payload = payload[:cut] + bytes(rng.randrange(256) for _ in range(rng.randrange(4)))
            r = s.request(method, keel.url + path, data=payload,
                          headers={"Content-Type": "application/json"})
        elif kind < 0.85:
            path = rng.choice(GET_PATHS).replace("RUN", run_id)
            if rng.random() < 0.5:
                path += "&" + rng.choice(["max_results=-1", "max_results=abc", "page_token=%25%25",
                                          "order_by=%60", "filter=%FF%FE", "path=..%2F..",
                                          "run_ids=" + "x" * 300, "uri=models:/%00"])
            r = s.get(keel.url + path)
        else:
            method = rng.choice(["GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"])
            path = "/api/2.0/" + "/".join(rng.choice(["mlflow", "runs", "..", "%2e%2e", "x" * 50,
                                                      "mlflow-artifacts", "artifacts", "keel"])
                                          for _ in range(rng.randrange(1, 6)))
            r = s.request(method, keel.url + path, data=b"x" * rng.randrange(100),
                          headers={"Content-Type": rng.choice(["application/json", "text/plain"])})
        _check(r)
    # still serving, and the store is intact
    assert keel.api("GET", f"/api/2.0/mlflow/runs/get?run_id={run_id}").status_code == 200
    assert keel.api("GET", "/api/2.0/mlflow/experiments/get?experiment_id=0").status_code == 200
