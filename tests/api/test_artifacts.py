# The artifact store through the MLflow artifact proxy: content stored once per digest,
# streamed in both directions (memory stays flat for a file far larger than the server
# may hold), Range downloads, concurrent identical uploads, an upload cut mid-way that
# leaves nothing behind, and hostile paths refused before anything is touched.
import hashlib
import os
import socket
import threading
import time
from pathlib import Path
from urllib.parse import urlparse

import requests

ART = "/api/2.0/mlflow-artifacts/artifacts"


def _blobs(server):
    root = Path(server.data_dir) / "artifacts" / "blobs" / "sha256"
    return sorted(p for p in root.rglob("*") if p.is_file())


def _tmp_files(server):
    return list((Path(server.data_dir) / "artifacts" / "tmp").iterdir())


def _put(server, path, data, session=requests):
    return session.put(server.url + f"{ART}/{path}", data=data,
                       headers={"Content-Type": "application/octet-stream"})


def test_roundtrip_listing_and_dedup(keel):
    data = os.urandom(100_000)
    assert _put(keel, "1/r1/artifacts/model/data/w.bin", data).status_code == 200
    assert _put(keel, "1/r2/artifacts/copy.bin", data).status_code == 200  # same content
    assert _put(keel, "1/r1/artifacts/model/MLmodel", b"flavors: {}\n").status_code == 200
    blobs = _blobs(keel)
    assert len(blobs) == 2
    assert hashlib.sha256(data).hexdigest() in {b.name for b in blobs}
    r = requests.get(keel.url + f"{ART}/1/r2/artifacts/copy.bin")
    assert r.status_code == 200 and r.content == data
    assert r.headers["Content-Disposition"] == "attachment; filename=copy.bin"
    assert r.headers["Content-Type"] == "application/octet-stream"
    r = requests.get(keel.url + ART, params={"path": "1/r1/artifacts/model"})
    assert r.json() == {"files": [{"path": "MLmodel", "is_dir": False, "file_size": 12},
                                  {"path": "data", "is_dir": True}]}
    # keel's own view shows sizes and digests
    st = requests.get(keel.url + "/api/2.0/keel/artifacts/stat",
                      params={"path": "1/r2/artifacts/copy.bin"}).json()["file"]
    assert st == {"path": "1/r2/artifacts/copy.bin", "is_dir": False, "size": len(data),
                  "digest": hashlib.sha256(data).hexdigest(), "digest_algorithm": "sha256"}
    ls = requests.get(keel.url + "/api/2.0/keel/artifacts/list",
                      params={"path": "1/r1/artifacts/model"}).json()["files"]
    assert [(f["path"], f["is_dir"], f.get("size")) for f in ls] == [("MLmodel", False, 12),
                                                                    ("data", True, None)]
    # deleting a directory removes its rows; the shared content stays for the other run
    assert requests.delete(keel.url + f"{ART}/1/r1/artifacts/model").status_code == 200
    assert requests.get(keel.url + f"{ART}/1/r1/artifacts/model/data/w.bin").status_code == 500
    assert requests.get(keel.url + f"{ART}/1/r2/artifacts/copy.bin").content == data
    # a file cannot become a directory, nor a directory a file
    assert _put(keel, "1/r2/artifacts/copy.bin/x", b"x").status_code == 400
    assert _put(keel, "1/r2/artifacts", b"x").status_code == 400


def test_range_requests(keel):
    data = bytes(range(256)) * 40
    assert _put(keel, "0/r/artifacts/f.bin", data).status_code == 200
    url = keel.url + f"{ART}/0/r/artifacts/f.bin"
    for header, want in (("bytes=0-9", data[:10]), ("bytes=100-", data[100:]),
                         ("bytes=-5", data[-5:]), ("bytes=10-99999", data[10:])):
        r = requests.get(url, headers={"Range": header})
        assert r.status_code == 206 and r.content == want, header
        assert r.headers["Content-Range"].endswith(f"/{len(data)}")
    r = requests.get(url, headers={"Range": f"bytes={len(data)}-"})
    assert r.status_code == 416 and r.headers["Content-Range"] == f"bytes */{len(data)}"


def _vm_hwm_kb(proc):
    for line in Path(f"/proc/{proc.pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise AssertionError("no VmHWM")


def test_large_file_streams_in_flat_memory(start_keel, tmp_path):
    # the server may not buffer a request body past 1 MiB; the file is 256 MiB
    s = start_keel(tmp_path / "d", "--max-body-bytes", str(1 << 20))
    size = 256 << 20
    chunk = os.urandom(1 << 20)
    src = tmp_path / "big.bin"
    with open(src, "wb") as f:
        for _ in range(size // len(chunk)):
            f.write(chunk)
    before = _vm_hwm_kb(s.proc)
    with open(src, "rb") as f:
        r = requests.put(s.url + f"{ART}/0/r/artifacts/big.bin", data=f,
                         headers={"Content-Type": "application/octet-stream"})
    assert r.status_code == 200, r.text
    h = hashlib.sha256()
    got = 0
    with requests.get(s.url + f"{ART}/0/r/artifacts/big.bin", stream=True) as resp:
        for part in resp.iter_content(1 << 20):
            h.update(part)
            got += len(part)
    expect = hashlib.sha256()
    for _ in range(size // len(chunk)):
        expect.update(chunk)
    assert got == size and h.hexdigest() == expect.hexdigest()
    # the digest keel recorded (hashed on its own thread for a file this size)
    st = requests.get(s.url + "/api/2.0/keel/artifacts/stat",
                      params={"path": "0/r/artifacts/big.bin"}).json()["file"]
    assert st["digest"] == expect.hexdigest() and st["size"] == size
    growth_mb = (_vm_hwm_kb(s.proc) - before) / 1024
    assert growth_mb < 64, f"peak memory grew by {growth_mb:.0f} MiB for a 256 MiB file"


def test_concurrent_uploads_of_the_same_content(keel):
    data = os.urandom(2 << 20)
    results = []

    def up(i):
        results.append(_put(keel, f"0/r/artifacts/same-{i}.bin", data).status_code)

    threads = [threading.Thread(target=up, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [200] * 8
    assert len(_blobs(keel)) == 1 and _tmp_files(keel) == []
    listing = requests.get(keel.url + ART, params={"path": "0/r/artifacts"}).json()["files"]
    assert len(listing) == 8 and all(f["file_size"] == len(data) for f in listing)


def test_upload_cut_midway_leaves_nothing(keel):
    u = urlparse(keel.url)
    with socket.create_connection((u.hostname, u.port)) as s:
        s.sendall(f"PUT {ART}/0/r/artifacts/cut.bin HTTP/1.1\r\nHost: x\r\n"
                  f"Content-Type: application/octet-stream\r\nContent-Length: {10 << 20}\r\n\r\n"
                  .encode() + os.urandom(1 << 20))
        time.sleep(0.3)
    deadline = time.time() + 5
    while _tmp_files(keel) and time.time() < deadline:
        time.sleep(0.05)
    assert _tmp_files(keel) == [] and _blobs(keel) == []
    assert requests.get(keel.url + ART, params={"path": "0/r/artifacts"}).json() == {}
    assert _put(keel, "0/r/artifacts/after.bin", b"ok").status_code == 200


def test_hostile_paths_are_refused(keel):
    outside = Path(keel.data_dir) / "escaped.txt"
    for path in ("..%2F..%2Fescaped.txt", "%252e%252e%252fescaped.txt", "a//b", "a/%2e%2e/x",
                 "a\\b", "a%00b", "x" * 300, "a/%0ab", "%2Fabs"):
        for method in ("PUT", "GET", "DELETE"):
            r = requests.request(method, keel.url + f"{ART}/{path}", data=b"x" if method == "PUT" else None,
                                 headers={"Content-Type": "application/octet-stream"})
            assert r.status_code == 400 and r.json()["message"] == "Invalid path", (method, path)
    r = requests.get(keel.url + ART, params={"path": "../../etc"})
    assert r.status_code == 400
    assert not outside.exists() and _blobs(keel) == []


def _new_run(server):
    api = server.url + "/api/2.0/mlflow"
    exp = requests.post(api + "/experiments/create", json={"name": "get-artifact"}).json()
    run = requests.post(api + "/runs/create", json={"experiment_id": exp["experiment_id"]})
    return run.json()["run"]["info"]


def test_get_artifact_serves_one_file_of_a_run_as_mlflow_does(keel):
    info = _new_run(keel)
    root = info["artifact_uri"].split("mlflow-artifacts:/", 1)[1]
    assert _put(keel, f"{root}/plots/page.html", b"<script>x</script>").status_code == 200
    assert _put(keel, f"{root}/w.bin", b"\x00\x01" * 10).status_code == 200
    r = requests.get(keel.url + "/get-artifact",
                     params={"run_uuid": info["run_id"], "path": "plots/page.html"})
    assert r.status_code == 200 and r.content == b"<script>x</script>"
    # never as a page of keel's own origin
    assert r.headers["Content-Type"] == "text/html" and r.headers["X-Content-Type-Options"] == "nosniff"
    assert r.headers["Content-Disposition"].startswith("attachment")
    r = requests.get(keel.url + "/get-artifact",
                     params={"run_id": info["run_id"], "path": "w.bin"},
                     headers={"Range": "bytes=2-5"})
    assert r.status_code == 206 and r.content == b"\x00\x01\x00\x01"
    for path, status in (("nope.txt", 404), ("plots", 404), ("../w.bin", 400), ("", 400)):
        r = requests.get(keel.url + "/get-artifact", params={"run_uuid": info["run_id"], "path": path})
        assert r.status_code == status, (path, r.status_code, r.text)
    assert requests.get(keel.url + "/get-artifact",
                        params={"run_uuid": "0" * 32, "path": "w.bin"}).status_code == 404
    # it lives beside the API, not inside it
    assert requests.get(keel.url + "/api/2.0/get-artifact",
                        params={"run_uuid": info["run_id"], "path": "w.bin"}).status_code == 404


def test_get_artifact_reads_a_local_artifact_root(start_keel, tmp_path):
    root = tmp_path / "local-artifacts"
    server = start_keel(tmp_path / "keel", "--default-artifact-root", str(root),
                        "--no-serve-artifacts")
    info = _new_run(server)
    local = Path(urlparse(info["artifact_uri"]).path)
    assert str(local).startswith(str(root))
    (local / "sub").mkdir(parents=True)
    (local / "sub" / "notes.txt").write_text("trained on march data\n")
    os.symlink("/etc/passwd", local / "sub" / "link.txt")
    r = requests.get(server.url + "/get-artifact", params={"run_uuid": info["run_id"],
                                                           "path": "sub/notes.txt"})
    assert r.status_code == 200 and r.text == "trained on march data\n"
    assert r.headers["Content-Type"] == "text/plain"
    assert r.headers["Content-Disposition"] == "attachment; filename=notes.txt"
    assert r.headers["X-Content-Type-Options"] == "nosniff"  # once
    r = requests.get(server.url + "/get-artifact", params={"run_uuid": info["run_id"],
                                                           "path": "sub/link.txt"})
    assert r.status_code == 404  # links out of the run's directory are not followed
    # ... nor links to directories on the way to a file
    os.symlink("/etc", local / "etc-link")
    r = requests.get(server.url + "/get-artifact", params={"run_uuid": info["run_id"],
                                                           "path": "etc-link/passwd"})
    assert r.status_code == 404
    listed = requests.get(server.url + "/api/2.0/mlflow/artifacts/list",
                          params={"run_id": info["run_id"], "path": "etc-link"}).json()
    assert listed.get("files", []) == []
    top = requests.get(server.url + "/api/2.0/mlflow/artifacts/list",
                       params={"run_id": info["run_id"]}).json()["files"]
    assert {f["path"]: f["is_dir"] for f in top} == {"sub": True, "etc-link": False}
    # a FIFO answers at once, and is no artifact
    os.mkfifo(local / "pipe.txt")
    r = requests.get(server.url + "/get-artifact", params={"run_uuid": info["run_id"],
                                                           "path": "pipe.txt"}, timeout=10)
    assert r.status_code == 404
