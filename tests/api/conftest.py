# Fixtures that run a real keel server for the black-box API tests: start it on a free
# port with a fresh SQLite store, wait for /health, stop it with SIGTERM, and under
# KEEL_ASAN=1 fail the test when the server's stderr shows a sanitizer report. Also what
# the test files share: where the fixture models and their golden predictions are, and a
# check that an answer is a 200.
import json
import os
import signal
import socket
import subprocess
import time
import warnings
from pathlib import Path

import pytest
import requests

REPO = Path(__file__).resolve().parents[2]
KEEL_BIN = os.environ.get("KEEL_BIN", str(REPO / "build" / "keel"))
# ../shared/fixtures beside the repository (models/, golden/; see its README.md)
FIXTURES = Path(os.environ.get("KEEL_FIXTURES", REPO.parent / "shared" / "fixtures"))
SANITIZER_MARKERS = ("ERROR: AddressSanitizer", "runtime error:", "LeakSanitizer")
START_TIMEOUT = 10.0
STOP_TIMEOUT = 10.0


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class KeelServer:
    """One keel server on data_dir (store: keel.db, artifacts: artifacts/).

    start()/stop()/kill9()/restart() manage the process; restart() reuses the same store
    on a new port, so read .url again afterwards. Every process's output goes to
    data_dir/keel-<n>.stdout and .stderr.
    """

    def __init__(self, data_dir, *extra_args, env=None):
        self.data_dir = Path(data_dir)
        self.env = dict(os.environ, **env) if env else None  # e.g. KEEL_ADMIN_PASSWORD
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.extra_args = [str(a) for a in extra_args]
        self.proc = None
        self.url = None
        self.logs = []  # (stdout path, stderr path) of every process started

    def command(self, port):
        return [KEEL_BIN, "server", "--host", "127.0.0.1", "--port", str(port),
                "--backend-store-uri", f"sqlite:///{self.data_dir}/keel.db",
                "--artifacts-destination", str(self.data_dir / "artifacts"),
                "--data-dir", str(self.data_dir / "data"),  # prediction log, model cache
                *self.extra_args]

    @property
    def stderr_path(self):
        return self.logs[-1][1]

    def stderr(self):
        return self.stderr_path.read_text(errors="replace")

    def start(self):
        if not os.access(KEEL_BIN, os.X_OK):
            pytest.fail(f"keel binary not found at {KEEL_BIN}: run `make` or set KEEL_BIN",
                        pytrace=False)
        port = free_port()
        n = len(self.logs)
        out, err = self.data_dir / f"keel-{n}.stdout", self.data_dir / f"keel-{n}.stderr"
        self.logs.append((out, err))
        with open(out, "wb") as fo, open(err, "wb") as fe:
            self.proc = subprocess.Popen(self.command(port), stdin=subprocess.DEVNULL,
                                         stdout=fo, stderr=fe, env=self.env)
        self.url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            if self.proc.poll() is not None:
                pytest.fail(f"keel exited with {self.proc.returncode} during startup\n"
                            f"command: {' '.join(self.command(port))}\nstderr:\n{self.stderr()}",
                            pytrace=False)
            try:
                if requests.get(self.url + "/health", timeout=1).status_code == 200:
                    return self
            except requests.RequestException:
                pass
            if time.monotonic() > deadline:
                self.stop()
                pytest.fail(f"keel did not answer GET /health with 200 within "
                            f"{START_TIMEOUT:.0f} s\nstderr:\n{self.stderr()}", pytrace=False)
            time.sleep(0.05)

    def stop(self):
        """SIGTERM, then SIGKILL after STOP_TIMEOUT; returns the exit status."""
        if self.proc is None or self.proc.poll() is not None:
            return None if self.proc is None else self.proc.returncode
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            warnings.warn(f"keel (pid {self.proc.pid}) ignored SIGTERM for "
                          f"{STOP_TIMEOUT:.0f} s; killed")
            self.proc.kill()
            return self.proc.wait()

    def kill9(self):
        """Crash the server (SIGKILL), e.g. to test durability of the store."""
        self.proc.kill()
        self.proc.wait()

    def restart(self):
        """Stop (if still running) and start a new process on the same store."""
        self.stop()
        return self.start()

    def wait_ready(self):
        """Wait until GET /ready answers 200: the stored deployments are loaded
        (start() waits only for /health, which answers before they are)."""
        deadline = time.monotonic() + START_TIMEOUT
        while requests.get(self.url + "/ready", timeout=5).status_code != 200:
            if time.monotonic() > deadline:
                pytest.fail(f"keel did not become ready within {START_TIMEOUT:.0f} s\n"
                            f"stderr:\n{self.stderr()}", pytrace=False)
            time.sleep(0.05)
        return self

    def sanitizer_reports(self):
        """Sanitizer findings in the stderr of every process this server has run."""
        found = []
        for _, err in self.logs:
            text = err.read_text(errors="replace") if err.exists() else ""
            if any(m in text for m in SANITIZER_MARKERS):
                found.append(f"--- {err}\n{text[-8000:]}")
        return found

    def api(self, method, path, json=None, **kw):
        """requests call against this server: keel.api("GET", "/api/2.0/...")."""
        kw.setdefault("timeout", 30)
        return requests.request(method, self.url + path, json=json, **kw)


class ModelServer(KeelServer):
    """`keel models serve -m MODEL` (a directory or a model URI), managed like KeelServer."""

    def __init__(self, data_dir, model, *extra_args):
        super().__init__(data_dir, *extra_args)
        self.model = str(model)

    def command(self, port):
        return [KEEL_BIN, "models", "serve", "-m", self.model, "--host", "127.0.0.1",
                "--port", str(port), *self.extra_args]


def golden(model):
    """A fixture model's golden/<model>/input.csv text and MLflow pyfunc's predictions."""
    text = (FIXTURES / "golden" / model / "input.csv").read_text()
    preds = json.loads((FIXTURES / "golden" / model / "pyfunc_predictions.json").read_text())
    return text, preds["predictions"]


def ok(r):
    """r's JSON, after checking it is a 200 (the failure says which call)."""
    assert r.status_code == 200, (r.request.method, r.request.url, r.status_code, r.text)
    return r.json()


def _shutdown(servers):
    for s in servers:
        s.stop()
    if os.environ.get("KEEL_ASAN") == "1":
        reports = [r for s in servers for r in s.sanitizer_reports()]
        if reports:
            pytest.fail("sanitizer reported errors in keel:\n" + "\n".join(reports),
                        pytrace=False)


@pytest.fixture
def start_keel():
    """Factory: start_keel(data_dir, *extra_args, env=None) -> started KeelServer, stopped (and
    checked for sanitizer reports) at the end of the test."""
    servers = []

    def start(data_dir, *extra_args, env=None):
        server = KeelServer(data_dir, *extra_args, env=env)
        servers.append(server)
        return server.start()

    yield start
    _shutdown(servers)


@pytest.fixture
def keel(tmp_path):
    """A fresh keel server with an empty store, for one test."""
    server = KeelServer(tmp_path / "keel")
    try:
        yield server.start()
    finally:
        _shutdown([server])


@pytest.fixture(scope="module")
def keel_module(tmp_path_factory, request):
    """A fresh keel server shared by all tests of one module, started with the
    module's KEEL_ARGS (a list of extra command-line arguments) if it has any."""
    extra = getattr(request.module, "KEEL_ARGS", [])
    server = KeelServer(tmp_path_factory.mktemp("keel"), *extra)
    try:
        yield server.start()
    finally:
        _shutdown([server])
