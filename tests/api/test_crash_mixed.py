# Crash consistency under mixed load: runs and metrics, artifact uploads, registry writes
# and scoring with a `required` prediction log all run at once; the server is killed with
# SIGKILL at a random moment, restarted on the same data, and everything it acknowledged
# must be there -- three times over. At the end `keel gc` leaves exactly the contents that
# some artifact still points at: no orphans, nothing referenced lost.
import hashlib
import json
import os
import random
import subprocess
import threading
import time
from pathlib import Path

import requests

from conftest import FIXTURES, KEEL_BIN

ART = "/api/2.0/mlflow-artifacts/artifacts"
IRIS = FIXTURES / "models" / "xgb-classifier-iris"


def _acked_runs(s, session, stop, acked):
    while not stop.is_set():
        try:
            r = session.post(s.url + "/api/2.0/mlflow/runs/create",
                             json={"experiment_id": "0", "start_time": 1700000000000}, timeout=10)
            if r.status_code != 200:
                continue
            rid = r.json()["run"]["info"]["run_id"]
            acked["runs"][rid] = []
            for n in range(5):
                r = session.post(s.url + "/api/2.0/mlflow/runs/log-batch", timeout=10, json={
                    "run_id": rid, "params": [{"key": f"p{n}", "value": str(n)}],
                    "metrics": [{"key": "m", "value": n / 7, "timestamp": 1, "step": n}]})
                if r.status_code == 200:
                    acked["runs"][rid].append(n)
        except requests.RequestException:
            return  # the server is gone: nothing after this was acknowledged


def _acked_artifacts(s, session, stop, acked, rng):
    try:
        info = session.post(s.url + "/api/2.0/mlflow/runs/create", json={"experiment_id": "0"},
                            timeout=10).json()["run"]["info"]
    except requests.RequestException:
        return
    root = info["artifact_uri"].removeprefix("mlflow-artifacts:/")
    n = 0
    while not stop.is_set():
        data = rng.randbytes(rng.choice([0, 10, 5000, 200_000]))
        if n % 4 == 3:  # now and then a content stored already
            data = b"shared content"
        path = f"{root}/f{n}.bin"
        n += 1
        try:
            r = session.put(s.url + f"{ART}/{path}", data=data, timeout=30)
        except requests.RequestException:
            return
        if r.status_code == 200:
            acked["artifacts"][path] = hashlib.sha256(data).hexdigest()


def _acked_models(s, session, stop, acked, prefix):
    n = 0
    while not stop.is_set():
        name = f"{prefix}-{n}"
        n += 1
        try:
            r = session.post(s.url + "/api/2.0/mlflow/registered-models/create",
                             json={"name": name}, timeout=10)
        except requests.RequestException:
            return
        if r.status_code == 200:
            acked["models"].add(name)


def _acked_predictions(s, session, stop, acked, csv):
    while not stop.is_set():
        try:
            r = session.post(s.url + "/deployments/iris/invocations", data=csv, timeout=10,
                             headers={"Content-Type": "text/csv"})
        except requests.RequestException:
            return
        if r.status_code == 200:
            acked["predictions"].add(r.headers["X-Request-Id"])


def _check(s, acked):
    for rid, batches in acked["runs"].items():
        r = s.api("GET", f"/api/2.0/mlflow/runs/get?run_id={rid}")
        assert r.status_code == 200, f"acknowledged run {rid} lost"
        params = {p["key"] for p in r.json()["run"]["data"].get("params", [])}
        assert {f"p{n}" for n in batches} <= params, f"acknowledged params of {rid} lost"
    for path, digest in acked["artifacts"].items():
        r = requests.get(s.url + f"{ART}/{path}", timeout=30)
        assert r.status_code == 200 and hashlib.sha256(r.content).hexdigest() == digest, path
    for name in acked["models"]:
        r = s.api("GET", f"/api/2.0/mlflow/registered-models/get?name={name}")
        assert r.status_code == 200, f"acknowledged registered model {name} lost"
    r = requests.get(s.url + "/api/2.0/keel/predictions", timeout=60,
                     params={"deployment": "iris", "max_results": 100000})
    got = {p["request_id"] for p in r.json()["predictions"]}
    assert len(got) < 100000, "more records than one query returns: lower the load"
    lost = acked["predictions"] - got
    assert not lost, f"{len(lost)} acknowledged predictions lost"
    # the audit chain is whole, and holds every acknowledged change it should
    verdict = s.api("GET", "/api/2.0/keel/audit/verify").json()
    assert verdict["ok"], verdict
    created, start = set(), 1
    while start:
        page = s.api("GET", "/api/2.0/keel/audit",
                     params={"start_seq": start, "max_results": 10000}).json()
        for r in page["records"]:
            rec = json.loads(r["record"])
            if rec["action"].endswith("/registered-models/create"):
                created.add(rec["request"].get("name"))
        start = page.get("next_start_seq")
    assert acked["models"] <= created, "an acknowledged change without its audit record"


def _listed_contents(s, path=""):
    """SHA-256 of every artifact reachable by listing, walked from `path`."""
    out = set()
    r = requests.get(s.url + ART, params={"path": path}, timeout=30).json()
    for f in r.get("files", []):
        full = f"{path}/{f['path']}" if path else f["path"]
        if f.get("is_dir"):
            out |= _listed_contents(s, full)
        else:
            out.add(hashlib.sha256(requests.get(s.url + f"{ART}/{full}", timeout=30)
                                   .content).hexdigest())
    return out


def test_kill9_at_random_moments_under_mixed_load(start_keel, tmp_path):
    seed = int(os.environ.get("KEEL_CRASH_SEED", "0")) or random.randrange(1 << 30)
    rng = random.Random(seed)
    print(f"KEEL_CRASH_SEED={seed}")
    s = start_keel(tmp_path / "d")
    csv = (FIXTURES / "golden" / "xgb-classifier-iris" / "input.csv").read_text()
    r = s.api("POST", "/api/2.0/keel/deployments/create",
              json={"name": "iris", "model_uri": str(IRIS), "prediction_log": "required"})
    assert r.status_code == 200, r.text
    acked = {"runs": {}, "artifacts": {}, "models": set(), "predictions": set()}
    for round_ in range(3):
        stop = threading.Event()
        sessions = [requests.Session() for _ in range(4)]
        threads = [
            threading.Thread(target=_acked_runs, args=(s, sessions[0], stop, acked)),
            threading.Thread(target=_acked_artifacts,
                             args=(s, sessions[1], stop, acked, random.Random(rng.random()))),
            threading.Thread(target=_acked_models, args=(s, sessions[2], stop, acked,
                                                         f"m{round_}")),
            threading.Thread(target=_acked_predictions, args=(s, sessions[3], stop, acked, csv)),
        ]
        for t in threads:
            t.start()
        time.sleep(rng.uniform(0.5, 2.0))
        s.kill9()
        stop.set()
        for t in threads:
            t.join(timeout=60)
        s.restart().wait_ready()
        _check(s, acked)
    assert acked["runs"] and acked["artifacts"] and acked["models"] and acked["predictions"]
    s.stop()
    # no orphans: after gc the stored contents are exactly those artifacts point at
    gc = subprocess.run([KEEL_BIN, "gc", "--backend-store-uri", f"sqlite:///{s.data_dir}/keel.db",
                         "--artifacts-destination", str(Path(s.data_dir) / "artifacts"),
                         "--grace", "0"], capture_output=True, text=True, timeout=120)
    assert gc.returncode == 0, gc.stderr
    s.start()
    _check(s, acked)
    blobs = {p.name for p in (Path(s.data_dir) / "artifacts" / "blobs").rglob("*")
             if p.is_file()}
    assert blobs == _listed_contents(s)
