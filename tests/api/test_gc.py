# `keel gc` next to a running server: deleted runs go for good with their artifacts, and a
# stored content is removed only once no artifact points at it (and it is older than the
# grace period).
import os
import subprocess
from pathlib import Path

import requests

from conftest import KEEL_BIN

ART = "/api/2.0/mlflow-artifacts/artifacts"


def _gc(s, *args):
    return subprocess.run([KEEL_BIN, "gc", "--backend-store-uri", f"sqlite:///{s.data_dir}/keel.db",
                           "--artifacts-destination", str(Path(s.data_dir) / "artifacts"), *args],
                          capture_output=True, text=True, timeout=60)


def _blobs(s):
    return [p for p in (Path(s.data_dir) / "artifacts" / "blobs").rglob("*") if p.is_file()]


def _run(s):
    info = s.api("POST", "/api/2.0/mlflow/runs/create", json={"experiment_id": "0"}).json()["run"]["info"]
    return info["run_id"], info["artifact_uri"].removeprefix("mlflow-artifacts:/")


def test_gc_removes_deleted_runs_then_orphaned_contents(keel):
    shared, own = os.urandom(5000), os.urandom(7000)
    gone, gone_root = _run(keel)
    kept, kept_root = _run(keel)
    for root, name, data in ((gone_root, "a.bin", shared), (gone_root, "b.bin", own),
                             (kept_root, "a.bin", shared)):
        assert requests.put(keel.url + f"{ART}/{root}/{name}", data=data).status_code == 200
    s = keel.api("POST", "/api/2.0/mlflow/runs/log-metric",
                 json={"run_id": gone, "key": "m", "value": 1.0, "timestamp": 1})
    assert s.status_code == 200

    r = _gc(keel, "--run-ids", kept)  # an active run is refused, nothing changes
    assert r.returncode != 0 and "not in `deleted` lifecycle stage" in r.stderr
    assert keel.api("POST", "/api/2.0/mlflow/runs/delete", json={"run_id": gone}).status_code == 200

    r = _gc(keel, "--grace", "0")
    assert r.returncode == 0, r.stderr
    assert "removed 1 runs, 2 artifact entries, 1 contents" in r.stdout
    assert keel.api("GET", f"/api/2.0/mlflow/runs/get?run_id={gone}").status_code == 404
    assert requests.get(keel.url + ART, params={"path": gone_root}).json() == {}
    assert requests.get(keel.url + f"{ART}/{kept_root}/a.bin").content == shared
    assert len(_blobs(keel)) == 1

    # the last reference goes: the content goes with the next gc, not before the grace
    assert requests.delete(keel.url + f"{ART}/{kept_root}").status_code == 200
    assert "0 contents" in _gc(keel).stdout  # default grace: an hour
    assert "1 contents" in _gc(keel, "--grace", "0").stdout
    assert _blobs(keel) == []


def test_kill9_mid_upload_leaves_only_collectable_leftovers(start_keel, tmp_path):
    import socket
    import time
    from urllib.parse import urlparse
    s = start_keel(tmp_path / "d")
    u = urlparse(s.url)
    conn = socket.create_connection((u.hostname, u.port))
    conn.sendall(f"PUT {ART}/0/r/artifacts/half.bin HTTP/1.1\r\nHost: x\r\n"
                 f"Content-Length: {64 << 20}\r\n\r\n".encode() + os.urandom(4 << 20))
    tmp = Path(s.data_dir) / "artifacts" / "tmp"
    deadline = time.time() + 5
    while not any(tmp.iterdir()) and time.time() < deadline:
        time.sleep(0.05)
    s.kill9()
    conn.close()
    s.restart()
    assert requests.get(s.url + ART, params={"path": "0/r/artifacts"}).json() == {}
    assert _blobs(s) == []
    assert len(list(tmp.iterdir())) == 1  # the upload's temporary file, never visible
    r = _gc(s, "--grace", "0")
    assert r.returncode == 0 and list(tmp.iterdir()) == []


def test_gc_is_in_the_audit_log(keel):
    run, _ = _run(keel)
    assert keel.api("POST", "/api/2.0/mlflow/runs/delete", json={"run_id": run}).status_code == 200
    assert _gc(keel, "--run-ids", run).returncode == 0
    records = keel.api("GET", "/api/2.0/keel/audit", params={"max_results": 1000}).json()[
        "records"]
    import json
    gc = [json.loads(r["record"]) for r in records if '"keel gc"' in r["record"]]
    assert gc and gc[-1]["principal"].startswith("os:") and gc[-1]["request"]["run_ids"] == run
    assert keel.api("GET", "/api/2.0/keel/audit/verify").json()["ok"] is True
