# `keel models serve -m <remote URI>`: a model logged to a keel tracking server the way the
# MLflow client logs it -- run artifacts through the artifact proxy, a registered version with
# an alias and a stage, an MLflow 3 logged model -- is fetched by every URI form MLflow takes,
# served, and answers with the golden predictions. The download cache keeps one directory per
# model content (named by the documented tree digest) and never anything partial; unknown
# names fail at start with the server's own message.
import hashlib
import os
import subprocess

import pytest
import requests

from conftest import FIXTURES, KEEL_BIN, ModelServer, _shutdown, free_port, golden, ok

MODEL = FIXTURES / "models" / "xgb-classifier-iris"
GOLDEN = FIXTURES / "golden" / "xgb-classifier-iris"
API = "/api/2.0/mlflow"
ART = "/api/2.0/mlflow-artifacts/artifacts"
NAME = "iris"
SPACED = "iris classifier (v2)"  # a name the query string must encode
FAIL_TIMEOUT = 60


@pytest.fixture(autouse=True)
def no_tracking_env(monkeypatch):
    """Each test says where the tracking server is; nothing leaks in from the caller."""
    for k in ("KEEL_TRACKING_URI", "MLFLOW_TRACKING_URI", "KEEL_MODEL_CACHE"):
        monkeypatch.delenv(k, raising=False)


def _upload(server, prefix, files):
    for name, data in files.items():
        ok(requests.put(f"{server.url}{ART}/{prefix}/{name}", data=data, timeout=30,
                         headers={"Content-Type": "application/octet-stream"}))


def _model_files():
    return {p.name: p.read_bytes() for p in sorted(MODEL.iterdir()) if p.is_file()}


@pytest.fixture(scope="module")
def registry(keel_module):
    """The iris model logged as run artifacts (runs:/<run>/model), registered as version 1
    of `iris` and of SPACED, aliased champion, in Production, and logged again as an MLflow 3
    logged model `iris-lm` of the same run."""
    s = keel_module
    files = _model_files()
    exp = ok(s.api("POST", f"{API}/experiments/create", json={"name": "fetch"}))["experiment_id"]
    run = ok(s.api("POST", f"{API}/runs/create",
                    json={"experiment_id": exp, "start_time": 1700000000000}))["run"]["info"]
    run_id = run["run_id"]
    assert run["artifact_uri"] == f"mlflow-artifacts:/{exp}/{run_id}/artifacts"
    _upload(s, f"{exp}/{run_id}/artifacts/model", files)
    for name in (NAME, SPACED):
        ok(s.api("POST", f"{API}/registered-models/create", json={"name": name}))
        mv = ok(s.api("POST", f"{API}/model-versions/create", json={
            "name": name, "source": run["artifact_uri"] + "/model", "run_id": run_id}))
        assert mv["model_version"]["version"] == "1"
    ok(s.api("POST", f"{API}/registered-models/alias",
              json={"name": NAME, "alias": "champion", "version": "1"}))
    ok(s.api("POST", f"{API}/model-versions/transition-stage", json={
        "name": NAME, "version": "1", "stage": "Production", "archive_existing_versions": False}))
    lm = ok(s.api("POST", f"{API}/logged-models", json={
        "experiment_id": exp, "name": "iris-lm", "source_run_id": run_id}))["model"]["info"]
    mid = lm["model_id"]
    _upload(s, f"{exp}/models/{mid}/artifacts", files)
    ok(s.api("PATCH", f"{API}/logged-models/{mid}",
              json={"model_id": mid, "status": "LOGGED_MODEL_READY"}))
    return {"server": s, "exp": exp, "run_id": run_id, "model_id": mid, "files": files}


def tree_digest(d):
    """fetch.c's cache key: SHA-256 over the files in byte order of their relative paths,
    each as path, NUL, SHA-256 of the content."""
    h = hashlib.sha256()
    for rel in sorted(str(p.relative_to(d)).encode() for p in d.rglob("*") if p.is_file()):
        h.update(rel + b"\0" + hashlib.sha256((d / rel.decode()).read_bytes()).digest())
    return h.hexdigest()


def cache_entries(cache):
    return sorted(p.name for p in cache.iterdir()) if cache.exists() else []


def predictions(url):
    r = requests.post(url + "/invocations", data=(GOLDEN / "input.csv").read_bytes(),
                      headers={"Content-Type": "text/csv"}, timeout=30)
    assert r.status_code == 200, r.text
    return r.json()["predictions"]


def serve_and_check(tmp_path, uri, *extra):
    """Starts `keel models serve` on uri, checks the predictions, stops it."""
    server = ModelServer(tmp_path / f"serve-{len(list(tmp_path.glob('serve-*')))}",
                                uri, *extra)
    try:
        server.start()
        assert predictions(server.url) == golden(MODEL.name)[1]
    finally:
        _shutdown([server])


URI_FORMS = {
    "runs": lambda r: f"runs:/{r['run_id']}/model",
    "version": lambda r: f"models:/{NAME}/1",
    "alias": lambda r: f"models:/{NAME}@champion",
    "stage": lambda r: f"models:/{NAME}/Production",
    "stage-any-case": lambda r: f"models:/{NAME}/production",
    "latest": lambda r: f"models:/{NAME}/latest",
    "name-needing-encoding": lambda r: f"models:/{SPACED}/1",
    "model-id": lambda r: f"models:/{r['model_id']}",
    "runs-logged-model": lambda r: f"runs:/{r['run_id']}/iris-lm",  # MLflow 3's fallback
}


@pytest.mark.parametrize("form", list(URI_FORMS))
def test_every_uri_form_serves_the_golden_predictions(registry, tmp_path, form):
    cache = tmp_path / "cache" / "models"  # created with its parents
    serve_and_check(tmp_path, URI_FORMS[form](registry), "--tracking-uri",
                    registry["server"].url, "--cache-dir", cache)
    (digest,) = cache_entries(cache)  # one model, no temporary directory left
    d = cache / digest
    assert digest == tree_digest(d)
    assert {p.name: p.read_bytes() for p in d.iterdir()} == registry["files"]


def test_same_model_twice_is_cached_once(registry, tmp_path):
    cache = tmp_path / "cache"
    url = registry["server"].url
    # the run's copy and the logged model's copy hold the same files: one digest
    for uri in (f"models:/{NAME}/1", f"models:/{NAME}@champion",
                f"models:/{registry['model_id']}"):
        serve_and_check(tmp_path, uri, "--tracking-uri", url, "--cache-dir", cache)
        assert len(cache_entries(cache)) == 1, cache_entries(cache)


def test_mlflow_tracking_uri_from_the_environment(registry, tmp_path, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", registry["server"].url)
    cache = tmp_path / "cache"
    serve_and_check(tmp_path, f"models:/{NAME}@champion", "--cache-dir", cache)
    assert len(cache_entries(cache)) == 1


def run_failing(uri, *extra):
    """`keel models serve` expected to give up before listening: (exit status, stderr)."""
    r = subprocess.run([KEEL_BIN, "models", "serve", "-m", uri, "--host", "127.0.0.1",
                        "--port", str(free_port()), *map(str, extra)],
                       capture_output=True, text=True, timeout=FAIL_TIMEOUT,
                       stdin=subprocess.DEVNULL)
    return r.returncode, r.stderr


def server_message(server, path, params):
    r = server.api("GET", API + path, params=params)
    assert r.status_code in (400, 404), r.text
    return r.json()["message"]


@pytest.mark.parametrize("case", ["alias", "version", "run", "model-id"])
def test_unknown_names_fail_with_the_servers_message(registry, tmp_path, case):
    s = registry["server"]
    uri, path, params = {
        "alias": (f"models:/{NAME}@nobody", "/registered-models/alias",
                  {"name": NAME, "alias": "nobody"}),
        "version": (f"models:/{NAME}/99", "/model-versions/get", {"name": NAME, "version": "99"}),
        "run": ("runs:/0123456789abcdef0123456789abcdef/model", "/runs/get",
                {"run_id": "0123456789abcdef0123456789abcdef"}),
        "model-id": ("models:/m-00000000000000000000000000000000",
                     "/logged-models/m-00000000000000000000000000000000", {}),
    }[case]
    cache = tmp_path / "cache"
    rc, err = run_failing(uri, "--tracking-uri", s.url, "--cache-dir", cache)
    assert rc != 0
    assert server_message(s, path, params) in err, err
    assert uri in err, err
    assert cache_entries(cache) == []


def test_run_without_such_artifacts_or_logged_model(registry, tmp_path):
    rc, err = run_failing(f"runs:/{registry['run_id']}/nothing-here", "--tracking-uri",
                          registry["server"].url, "--cache-dir", tmp_path / "cache")
    assert rc != 0 and "nothing-here" in err and "no logged model" in err, err


def test_remote_uri_without_tracking_uri(tmp_path):
    rc, err = run_failing(f"models:/{NAME}/1", "--cache-dir", tmp_path / "cache")
    assert rc != 0 and "MLFLOW_TRACKING_URI" in err, err


def test_unreachable_tracking_server_is_named(tmp_path):
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    rc, err = run_failing(f"models:/{NAME}/1", "--tracking-uri", url,
                          "--cache-dir", tmp_path / "cache")
    assert rc != 0 and url in err, err


def test_failed_download_leaves_nothing_in_the_cache(registry, tmp_path):
    """A file whose content is gone from the server's blob store fails mid-download (after
    other files were written): the fetch fails and the cache holds nothing."""
    s, exp = registry["server"], registry["exp"]
    run = ok(s.api("POST", f"{API}/runs/create", json={"experiment_id": exp}))["run"]["info"]
    broken = os.urandom(4096)
    files = {**registry["files"], "zz-broken.bin": broken}
    _upload(s, f"{exp}/{run['run_id']}/artifacts/model", files)
    digest = hashlib.sha256(broken).hexdigest()
    blobs = [p for p in (s.data_dir / "artifacts" / "blobs").rglob(digest) if p.is_file()]
    assert len(blobs) == 1, blobs
    blobs[0].unlink()
    cache = tmp_path / "cache"
    rc, err = run_failing(f"runs:/{run['run_id']}/model", "--tracking-uri", s.url,
                          "--cache-dir", cache)
    assert rc != 0 and "zz-broken.bin" in err, err
    assert cache_entries(cache) == []
