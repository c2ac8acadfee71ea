# Slow clients and connection floods: a client that stops half-way through its request
# is cut off after --connection-timeout and never holds up anyone else; a flood of idle
# connections never makes the server hold more than --max-connections, and it answers
# again once the flood is gone. Large JSON answers go gzip'd to clients that accept it.
import socket
import time
from urllib.parse import urlparse

import requests


def _connect(url):
    u = urlparse(url)
    return socket.create_connection((u.hostname, u.port), timeout=10)


def _closed_by_peer(sock, within):
    """True when the server closes sock within `within` seconds."""
    sock.settimeout(within)
    try:
        return sock.recv(1) == b""
    except socket.timeout:
        return False
    except ConnectionResetError:
        return True


def test_a_client_stalled_mid_request_is_cut_off_and_holds_up_nobody(start_keel, tmp_path):
    s = start_keel(tmp_path / "d", "--connection-timeout", "2")
    stalled = _connect(s.url)
    stalled.sendall(b"POST /api/2.0/mlflow/experiments/create HTTP/1.1\r\nHost: x\r\n"
                    b"Content-Length: 100\r\n\r\n{\"name\": ")  # and then nothing
    t0 = time.monotonic()
    for _ in range(20):  # meanwhile everyone else is served
        assert requests.get(s.url + "/health", timeout=5).status_code == 200
    assert _closed_by_peer(stalled, 10), "the stalled connection was never closed"
    assert time.monotonic() - t0 < 10
    # the half-sent request changed nothing
    r = s.api("GET", "/api/2.0/mlflow/experiments/search?max_results=10")
    assert [e["name"] for e in r.json()["experiments"]] == ["Default"]


def _sockets(pid):
    import os
    n = 0
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            n += os.readlink(f"/proc/{pid}/fd/{fd}").startswith("socket:")
        except OSError:
            pass
    return n


def test_a_connection_flood_is_held_at_the_limit_and_the_server_recovers(start_keel, tmp_path):
    s = start_keel(tmp_path / "d", "--max-connections", "16", "--connection-timeout", "2")
    before = _sockets(s.proc.pid)
    flood = []
    for _ in range(60):  # idle connections, far past the limit
        try:
            flood.append(_connect(s.url))
        except OSError:
            break
    time.sleep(0.5)
    # the server holds at most the limit; the rest wait in the kernel's backlog or are
    # refused, and the server lives on
    held = _sockets(s.proc.pid) - before
    assert 0 < held <= 16, f"{held} connections held"
    assert s.proc.poll() is None
    # idle ones are cut off after the timeout, so the backlog drains even if the flood stays
    assert any(_closed_by_peer(c, 5) for c in flood[:16])
    for c in flood:
        c.close()
    deadline = time.monotonic() + 15
    while True:
        try:
            if requests.get(s.url + "/health", timeout=2).status_code == 200:
                break
        except requests.RequestException:
            pass
        assert time.monotonic() < deadline, "the server did not recover from the flood"
        time.sleep(0.2)
    r = s.api("POST", "/api/2.0/mlflow/experiments/create", json={"name": "after-the-flood"})
    assert r.status_code == 200


def test_large_json_answers_are_gzipped_for_clients_that_accept_it(keel):
    import gzip
    import json as jsonlib
    for i in range(60):
        requests.post(keel.url + "/api/2.0/mlflow/experiments/create",
                      json={"name": f"experiment-number-{i}-with-a-long-name"}).raise_for_status()
    url = keel.url + "/api/2.0/mlflow/experiments/search?max_results=100"
    plain = requests.get(url, headers={"Accept-Encoding": "identity"})
    assert "Content-Encoding" not in plain.headers and len(plain.content) > 8192
    raw = requests.get(url, headers={"Accept-Encoding": "gzip"}, stream=True).raw
    assert raw.headers["Content-Encoding"] == "gzip"
    assert raw.headers["Vary"] == "Accept-Encoding"
    body = raw.read(decode_content=False)
    assert len(body) < len(plain.content) / 4
    assert jsonlib.loads(gzip.decompress(body)) == plain.json()
    refused = requests.get(url, headers={"Accept-Encoding": "gzip;q=0, identity"})
    assert "Content-Encoding" not in refused.headers
    # small answers are not worth it
    small = requests.get(keel.url + "/api/2.0/mlflow/experiments/get?experiment_id=1",
                         headers={"Accept-Encoding": "gzip"})
    assert "Content-Encoding" not in small.headers
