# Metric history endpoints the conformance vectors do not cover: the UI's
# get-history-bulk and get-history-bulk-interval (sampled steps for charts).
def _run_with_history(s, steps, key="loss"):
    rid = s.api("POST", "/api/2.0/mlflow/runs/create", json={"experiment_id": "0"}).json()["run"]["info"]["run_id"]
    for chunk in range(0, len(steps), 1000):
        body = {"run_id": rid, "metrics": [{"key": key, "value": float(st), "timestamp": 1000 + st,
                                             "step": st} for st in steps[chunk:chunk + 1000]]}
        assert s.api("POST", "/api/2.0/mlflow/runs/log-batch", json=body).status_code == 200
    return rid


def test_bulk_history_sorted_by_run(keel):
    a = _run_with_history(keel, [0, 1, 2])
    b = _run_with_history(keel, [5])
    r = keel.api("GET", f"/api/2.0/mlflow/metrics/get-history-bulk?run_id={b}&run_id={a}&metric_key=loss")
    got = [(m["run_id"], m["step"]) for m in r.json()["metrics"]]
    assert got == sorted([(a, 0), (a, 1), (a, 2), (b, 5)])
    r = keel.api("GET", f"/api/2.0/mlflow/metrics/get-history-bulk?metric_key=loss")
    assert r.status_code == 400 and "at least one run_id" in r.json()["message"]


def test_bulk_interval_samples_steps(keel):
    a = _run_with_history(keel, list(range(0, 3000)))
    b = _run_with_history(keel, list(range(0, 3000, 7)))
    r = keel.api("GET", "/api/2.0/mlflow/metrics/get-history-bulk-interval",
                 params={"run_ids": [a, b], "metric_key": "loss", "max_results": 50})
    assert r.status_code == 200, r.text
    ms = r.json()["metrics"]
    steps_a = [m["step"] for m in ms if m["run_id"] == a]
    assert steps_a == sorted(steps_a) and steps_a[0] == 0 and steps_a[-1] == 2999
    assert 50 <= len(steps_a) <= 60  # sampled, plus each run's first and last step
    assert all(m["value"] == float(m["step"]) for m in ms)
    r = keel.api("GET", "/api/2.0/mlflow/metrics/get-history-bulk-interval",
                 params={"run_ids": [a], "metric_key": "loss", "start_step": 10, "end_step": 20})
    assert [m["step"] for m in r.json()["metrics"]] == list(range(10, 21))
    for bad, msg in (({"start_step": 5}, "both must be specified"),
                     ({"start_step": 9, "end_step": 1}, "end_step must be greater"),
                     ({"max_results": 0}, "max_results must be between 1 and 2500")):
        r = keel.api("GET", "/api/2.0/mlflow/metrics/get-history-bulk-interval",
                     params={"run_ids": [a], "metric_key": "loss", **bad})
        assert r.status_code == 400 and msg in r.json()["message"], r.text
