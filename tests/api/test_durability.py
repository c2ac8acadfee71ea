# Durability: a write keel acknowledged is on disk. Several clients log batches as fast as
# they can, the server is killed with SIGKILL mid-load, and after a restart on the same
# store every acknowledged metric, param and tag must be there.
import random
import threading
import time

import requests


def _create_run(s):
    r = s.api("POST", "/api/2.0/mlflow/runs/create",
              json={"experiment_id": "0", "start_time": 1700000000000})
    assert r.status_code == 200, r.text
    return r.json()["run"]["info"]["run_id"]


def test_acknowledged_writes_survive_kill9(start_keel, tmp_path):
    s = start_keel(tmp_path / "store")
    runs = [_create_run(s) for _ in range(4)]
    acked = {rid: [] for rid in runs}  # run_id -> acknowledged batch numbers
    stop = threading.Event()

    def client(rid):
        session = requests.Session()
        n = 0
        while not stop.is_set():
            body = {
                "run_id": rid,
                "metrics": [{"key": f"m{k}", "value": float(n), "timestamp": 1700000000000 + n,
                             "step": n} for k in range(50)],
                "params": [{"key": f"p{n}", "value": str(n)}],
                "tags": [{"key": f"t{n}", "value": str(n)}],
            }
            try:
                r = session.post(s.url + "/api/2.0/mlflow/runs/log-batch", json=body, timeout=10)
            except requests.RequestException:
                return  # the server died under us: this batch was never acknowledged
            if r.status_code == 200:
                acked[rid].append(n)
            n += 1

    threads = [threading.Thread(target=client, args=(rid,)) for rid in runs]
    for t in threads:
        t.start()
    time.sleep(1.0 + random.random())
    s.kill9()
    stop.set()
    for t in threads:
        t.join(timeout=15)
    assert sum(len(v) for v in acked.values()) > 0, "no batch was acknowledged before the kill"

    s.restart()
    for rid, batches in acked.items():
        run = s.api("GET", f"/api/2.0/mlflow/runs/get?run_id={rid}").json()["run"]
        params = {p["key"] for p in run["data"].get("params", [])}
        tags = {t["key"] for t in run["data"].get("tags", [])}
        for n in batches:
            assert f"p{n}" in params and f"t{n}" in tags, f"batch {n} of run {rid} lost"
        hist = s.api("GET", f"/api/2.0/mlflow/metrics/get-history?run_id={rid}&metric_key=m7")
        steps = {m["step"] for m in hist.json().get("metrics", [])}
        assert set(batches) <= steps, f"metric history of run {rid} lost steps"
