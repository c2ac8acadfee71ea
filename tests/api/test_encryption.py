# Encryption at rest (keel server --encryption-key-file / KEEL_ENCRYPTION_KEY): artifacts read
# back identically (whole and by range) while no stored file holds their bytes; the same
# content is stored once; without the key, or with another, reads fail with a message naming
# the keys; a changed byte on disk is refused; `keel keys rotate` puts everything under a new
# key without rewriting the data; a deployment of a registered model loads from sealed
# artifacts.
import hashlib
import os
import subprocess
from pathlib import Path

import pytest
import requests

from conftest import KEEL_BIN, KeelServer, _shutdown
from test_serving import FIXTURES

ART = "/api/2.0/mlflow-artifacts/artifacts"
API = "/api/2.0/mlflow"
KEY1 = "11" * 32
KEY2 = "22" * 32


def stored_files(server):
    root = server.data_dir / "artifacts" / "blobs" / "sha256"
    return sorted(p for p in root.rglob("*") if p.is_file())


def put(server, path, data):
    r = requests.put(server.url + ART + "/" + path, data=data, timeout=60,
                     headers={"Content-Type": "application/octet-stream"})
    assert r.status_code == 200, r.text


def get(server, path, **kw):
    return requests.get(server.url + ART + "/" + path, timeout=60, **kw)


@pytest.fixture
def sealed(tmp_path):
    servers = []

    def start(key=KEY1, data_dir=None):
        env = {"KEEL_ENCRYPTION_KEY": key} if key else {"KEEL_ENCRYPTION_KEY": ""}
        server = KeelServer(data_dir or tmp_path / "keel", env=env)
        servers.append(server)
        return server.start()

    yield start
    _shutdown(servers)


def test_artifacts_read_back_identically_and_are_not_on_disk(sealed):
    server = sealed()
    marker = b"ACCOUNT-4711-SALARY-123456;"
    big = marker * 20000 + os.urandom(70000)  # across several chunks
    put(server, "0/run/artifacts/big.bin", big)
    put(server, "0/run/artifacts/small.txt", marker)
    put(server, "0/run/artifacts/empty", b"")
    put(server, "0/other/artifacts/copy.bin", big)  # the same content again
    assert get(server, "0/run/artifacts/big.bin").content == big
    assert get(server, "0/run/artifacts/small.txt").content == marker
    assert get(server, "0/run/artifacts/empty").content == b""
    assert get(server, "0/other/artifacts/copy.bin").content == big
    r = get(server, "0/run/artifacts/big.bin", headers={"Range": "bytes=65530-200000"})
    assert r.status_code == 206 and r.content == big[65530:200001]
    files = stored_files(server)
    assert len(files) == 3 and all(f.name.endswith(".sealed") for f in files)
    # named by the plaintext's digest (so the same content is stored once)...
    assert {f.name[:64] for f in files} >= {hashlib.sha256(big).hexdigest(),
                                           hashlib.sha256(marker).hexdigest()}
    # ... but none holds its bytes
    for f in files:
        assert b"4711" not in f.read_bytes()


def test_without_the_key_or_with_another_reads_fail_clearly(sealed, tmp_path):
    server = sealed()
    put(server, "0/run/artifacts/a.txt", b"secret content")
    server.stop()
    plain = sealed(key=None, data_dir=server.data_dir)
    r = get(plain, "0/run/artifacts/a.txt")
    assert r.status_code == 500 and "encrypted" in r.json()["message"]
    assert b"secret" not in r.content
    plain.stop()
    other = sealed(key=KEY2, data_dir=server.data_dir)
    r = get(other, "0/run/artifacts/a.txt")
    assert r.status_code == 500 and "sealed under key" in r.json()["message"]
    other.stop()
    # a changed byte on disk is refused, not served
    (blob,) = stored_files(server)
    data = bytearray(blob.read_bytes())
    data[-20] ^= 1
    blob.write_bytes(bytes(data))
    again = sealed(key=KEY1, data_dir=server.data_dir)
    r = get(again, "0/run/artifacts/a.txt")
    assert r.status_code == 500 and "does not authenticate" in r.json()["message"]


def test_a_bad_key_stops_the_server_from_starting(tmp_path):
    r = subprocess.run([KEEL_BIN, "server", "--port", "0", "--data-dir", str(tmp_path),
                        "--encryption-key-file", str(tmp_path / "missing")],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "cannot read the key file" in r.stderr
    (tmp_path / "short").write_text("abcd\n")
    r = subprocess.run([KEEL_BIN, "server", "--port", "0", "--data-dir", str(tmp_path),
                        "--encryption-key-file", str(tmp_path / "short")],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "256-bit" in r.stderr


def test_rotation_rewraps_without_rewriting_the_data(sealed, tmp_path):
    server = sealed()
    contents = {f"0/run/artifacts/f{i}": os.urandom(1000 * i + 1) for i in range(5)}
    for path, data in contents.items():
        put(server, path, data)
    server.stop()
    before = {f: f.read_bytes()[160:] for f in stored_files(server)}
    old, new = tmp_path / "old.key", tmp_path / "new.key"
    old.write_text(KEY1 + "\n")
    new.write_bytes(bytes.fromhex(KEY2))  # raw bytes work too
    cmd = [KEEL_BIN, "keys", "rotate", "--old-key-file", str(old), "--new-key-file", str(new),
           "--data-dir", str(server.data_dir)]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and r.stdout.startswith("5 sealed files"), r.stdout + r.stderr
    assert {f: f.read_bytes()[160:] for f in stored_files(server)} == before
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=60)  # again: harmless
    assert r.returncode == 0
    rotated = sealed(key=KEY2, data_dir=server.data_dir)
    for path, data in contents.items():
        assert get(rotated, path).content == data
    # both runs are in the audit log, with the key ids and never the keys
    records = requests.get(rotated.url + "/api/2.0/keel/audit", timeout=30,
                           params={"max_results": 1000}).json()["records"]
    rotations = [r["record"] for r in records if '"keel keys rotate"' in r["record"]]
    assert len(rotations) == 2 and KEY1 not in "".join(rotations)
    assert '"files":5' in rotations[0] and '"outcome":"ok"' in rotations[0]
    rotated.stop()
    stale = sealed(key=KEY1, data_dir=server.data_dir)
    assert get(stale, "0/run/artifacts/f1").status_code == 500


def test_a_deployment_loads_from_sealed_artifacts(sealed):
    server = sealed()
    model = FIXTURES / "models" / "xgb-classifier-iris"
    exp = requests.post(server.url + API + "/experiments/create", json={"name": "e"},
                        timeout=30).json()["experiment_id"]
    run = requests.post(server.url + API + "/runs/create", json={"experiment_id": exp},
                        timeout=30).json()["run"]["info"]
    for p in sorted(Path(model).iterdir()):
        put(server, f"{exp}/{run['run_id']}/artifacts/model/{p.name}", p.read_bytes())
    requests.post(server.url + API + "/registered-models/create", json={"name": "iris"},
                  timeout=30).raise_for_status()
    requests.post(server.url + API + "/model-versions/create", timeout=30, json={
        "name": "iris", "source": run["artifact_uri"] + "/model",
        "run_id": run["run_id"]}).raise_for_status()
    d = requests.post(server.url + "/api/2.0/keel/deployments/create", timeout=60,
                      json={"name": "iris", "model_uri": "models:/iris/1"})
    assert d.status_code == 200 and d.json()["deployment"]["status"] == "READY", d.text
    csv = (FIXTURES / "golden" / "xgb-classifier-iris" / "input.csv").read_text()
    r = requests.post(server.url + "/deployments/iris/invocations", data=csv, timeout=30,
                      headers={"Content-Type": "text/csv"})
    assert r.status_code == 200 and r.headers["X-Model-Version"] == "1"
    # the fetched model is not kept on disk in plaintext: its cache is in memory
    cache = server.data_dir / "data" / "models"
    assert not (cache.exists() and any(p.is_file() for p in cache.rglob("*")))


def predictions(server, **params):
    r = requests.get(server.url + "/api/2.0/keel/predictions", params=params, timeout=30)
    return r


def test_the_prediction_log_is_sealed_and_read_back_through_keel(sealed, tmp_path):
    server = sealed()
    model = FIXTURES / "models" / "xgb-classifier-iris"
    csv = (FIXTURES / "golden" / "xgb-classifier-iris" / "input.csv").read_text()
    requests.post(server.url + "/api/2.0/keel/deployments/create", timeout=60, json={
        "name": "iris", "model_uri": str(model), "prediction_log": "required"}).raise_for_status()
    ids = []
    for _ in range(4):
        r = requests.post(server.url + "/deployments/iris/invocations", data=csv, timeout=30,
                          headers={"Content-Type": "text/csv"})
        assert r.status_code == 200
        ids.append(r.headers["X-Request-Id"])
    got = predictions(server, deployment="iris")
    assert got.status_code == 200
    assert [p["request_id"] for p in got.json()["predictions"]] == ids
    server.kill9()  # the required records were durable; the segment is whole records
    segments = sorted((server.data_dir / "data" / "predictions").rglob("part-*"))
    assert segments and all(p.name.endswith(".jsonl.gz.sealed") for p in segments)
    for p in segments:
        data = p.read_bytes()
        assert data.startswith(b"KEELSEAL") and not any(i.encode() in data for i in ids)
    again = sealed(key=KEY1, data_dir=server.data_dir)
    assert [p["request_id"] for p in predictions(again, deployment="iris").json()[
        "predictions"]] == ids
    again.stop()
    plain = sealed(key=None, data_dir=server.data_dir)
    r = predictions(plain, deployment="iris")
    assert r.status_code == 500 and "encrypted" in r.json()["message"]
    plain.stop()
    old, new = tmp_path / "old.key", tmp_path / "new.key"
    old.write_text(KEY1)
    new.write_text(KEY2)
    r = subprocess.run([KEEL_BIN, "keys", "rotate", "--old-key-file", str(old),
                        "--new-key-file", str(new), "--data-dir", str(server.data_dir / "data"),
                        "--artifacts-destination", str(server.data_dir / "artifacts"),
                        "--backend-store-uri", f"sqlite:///{server.data_dir}/keel.db"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and r.stdout.startswith(f"{len(segments)} sealed files"), r.stdout
    rotated = sealed(key=KEY2, data_dir=server.data_dir)
    assert [p["request_id"] for p in predictions(rotated, deployment="iris").json()[
        "predictions"]] == ids
    rotated.stop()
    # a changed byte in a record is refused
    data = bytearray(segments[0].read_bytes())
    data[200] ^= 1
    segments[0].write_bytes(bytes(data))
    tampered = sealed(key=KEY2, data_dir=server.data_dir)
    r = predictions(tampered, deployment="iris")
    assert r.status_code == 500 and "does not authenticate" in r.json()["message"]


def test_a_sealed_blob_put_in_anothers_place_is_refused(sealed):
    server = sealed()
    put(server, "0/run/artifacts/a.txt", b"the real content of a")
    put(server, "0/run/artifacts/b.txt", b"something else entirely")
    server.stop()
    a, b = stored_files(server)  # named by their digests
    a_bytes, b_bytes = a.read_bytes(), b.read_bytes()
    a.write_bytes(b_bytes)
    b.write_bytes(a_bytes)
    again = sealed(key=KEY1, data_dir=server.data_dir)
    for path in ("0/run/artifacts/a.txt", "0/run/artifacts/b.txt"):
        r = get(again, path)
        assert r.status_code == 500 and "not the one asked for" in r.json()["message"], r.text
