# keel server --auth: credentials the MLflow client sends (HTTP Basic, bearer tokens), MLflow's
# user and permission endpoints, and the guard table (`keel policy`) walked endpoint by
# endpoint: every one refuses a caller without credentials (401) and a caller without the
# permission it names (403), and admits an admin. Searches show only what the caller may read;
# passwords and tokens are stored only as hashes; repeated wrong passwords are throttled.
import json
import sqlite3
import subprocess
import time

import pytest
import requests

from conftest import KEEL_BIN, KeelServer, _shutdown
from test_serving import FIXTURES

ADMIN = ("admin", "admin-password-1")
OWNER = ("owner", "owner-password-1")
STRANGER = ("stranger", "stranger-pass-1")
API = "/api/2.0/mlflow"
ADMIN_ENV = {"KEEL_ADMIN_USERNAME": ADMIN[0], "KEEL_ADMIN_PASSWORD": ADMIN[1]}
IRIS = FIXTURES / "models" / "xgb-classifier-iris"


def ok(r):
    assert r.status_code == 200, (r.request.method, r.request.url, r.status_code, r.text)
    return r.json() if r.headers.get("Content-Type", "").startswith("application/json") else r.text


class World:
    """A server with --auth; `owner` made an experiment (with a run, a logged model and an
    artifact), a registered model with a version; the admin deployed a local model directory;
    `stranger` holds NO_PERMISSIONS on the experiment and the registered model."""

    def __init__(self, server):
        self.server = server
        self.call(ADMIN, "POST", API + "/users/create",
                  json={"username": OWNER[0], "password": OWNER[1]})
        self.call(ADMIN, "POST", API + "/users/create",
                  json={"username": STRANGER[0], "password": STRANGER[1]})
        self.exp = self.call(OWNER, "POST", API + "/experiments/create",
                             json={"name": "private"})["experiment_id"]
        run = self.call(OWNER, "POST", API + "/runs/create",
                        json={"experiment_id": self.exp})["run"]["info"]
        self.run = run["run_id"]
        self.model_id = self.call(OWNER, "POST", API + "/logged-models",
                                  json={"experiment_id": self.exp,
                                        "name": "lm"})["model"]["info"]["model_id"]
        self.call(OWNER, "PUT", f"/api/2.0/mlflow-artifacts/artifacts/{self.exp}/x.txt",
                  data=b"hello", headers={"Content-Type": "application/octet-stream"})
        self.call(OWNER, "POST", API + "/registered-models/create", json={"name": "privmodel"})
        self.call(OWNER, "POST", API + "/model-versions/create",
                  json={"name": "privmodel", "source": run["artifact_uri"], "run_id": self.run})
        self.call(ADMIN, "POST", "/api/2.0/keel/deployments/create",
                  json={"name": "privdep", "model_uri": str(IRIS)})
        self.call(ADMIN, "POST", API + "/experiments/permissions/create",
                  json={"experiment_id": self.exp, "username": STRANGER[0],
                        "permission": "NO_PERMISSIONS"})
        self.call(ADMIN, "POST", API + "/registered-models/permissions/create",
                  json={"name": "privmodel", "username": STRANGER[0],
                        "permission": "NO_PERMISSIONS"})

    def request(self, who, method, path, **kw):
        kw.setdefault("timeout", 30)
        return requests.request(method, self.server.url + path, auth=who, **kw)

    def call(self, who, method, path, **kw):
        return ok(self.request(who, method, path, **kw))


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    server = KeelServer(tmp_path_factory.mktemp("keel"), "--auth", env=ADMIN_ENV)
    try:
        server.start()
        yield World(server)
    finally:
        _shutdown([server])


POLICY = [json.loads(line) for line in
          subprocess.run([KEEL_BIN, "policy"], capture_output=True, text=True,
                         check=True).stdout.splitlines()]


def value_for(resource, w):
    return {"experiment": w.exp, "experiment-name": "private", "experiments": [w.exp],
            "run": w.run, "runs": [w.run], "registered-model": "privmodel",
            "model-uri": "models:/privmodel/1", "deployment": "privdep", "self": OWNER[0],
            "artifact-path": f"{w.exp}/x.txt", "model-source": f"runs:/{w.run}/model",
            "run-or-artifact-path": f"{w.exp}/x.txt"}.get(resource)


def request_for(entry, w):
    """(method, path, requests kwargs) calling entry's endpoint on w's private resources."""
    method = "POST" if entry["method"] == "*" else entry["method"]
    path = entry["path"]
    kinds = [c["resource"] for c in entry["checks"]]
    if path.startswith("/"):
        path = path.replace("/deployments/*", "/deployments/privdep/invocations")
        path = path.replace("/v2/models/*", "/v2/models/privdep/infer")
    else:
        tail = w.model_id if "logged-model" in kinds else f"{w.exp}/x.txt"
        path = "/api/2.0/" + path.replace("*", tail)
    args = {c["argument"]: value_for(c["resource"], w) for c in entry["checks"]
            if c.get("argument")}
    kw = {"params": args} if method == "GET" else {"json": args}
    return method, path, kw


def label(entry):
    return f"{entry['method']} {entry['path']}"


def needs_permission(entry):
    return any(c["resource"] != "signed-in" for c in entry["checks"])


def test_policy_covers_every_endpoint_family():
    paths = {e["path"] for e in POLICY}
    for p in ("mlflow/runs/log-batch", "mlflow-artifacts/artifacts/*",
              "mlflow/registered-models/alias", "keel/deployments/create", "/deployments/*",
              "mlflow/users/create", "mlflow/experiments/permissions/update"):
        assert p in paths, p
    assert len(POLICY) > 90


def test_every_endpoint_refuses_a_caller_without_credentials(world):
    for i, entry in enumerate(POLICY):
        method, path, kw = request_for(entry, world)
        r = world.request(None, method, path, **kw)
        assert r.status_code == 401, (label(entry), r.status_code, r.text[:200])
        assert r.headers["WWW-Authenticate"] == 'Basic realm="mlflow"'
        if i % 8 == 0:  # each wrong password costs a deliberately slow check
            r = world.request((f"ghost-{i}", "not-the-password"), method, path, **kw)
            assert r.status_code == 401, (label(entry), r.status_code)
        r = requests.request(method, world.server.url + path, timeout=30,
                             headers={"Authorization": "Bearer keel_" + "x" * 60}, **kw)
        assert r.status_code == 401, (label(entry), r.status_code)


def test_every_endpoint_refuses_a_caller_without_the_permission(world):
    checked = 0
    for entry in POLICY:
        method, path, kw = request_for(entry, world)
        r = world.request(STRANGER, method, path, **kw)
        if needs_permission(entry):
            assert r.status_code == 403, (label(entry), r.status_code, r.text[:200])
            assert r.text == "Permission denied"
            checked += 1
        else:
            assert r.status_code not in (401, 403), (label(entry), r.status_code)
    assert checked > 80


def test_the_owner_reads_and_changes_what_they_made(world):
    assert world.call(OWNER, "GET", API + "/experiments/get",
                      params={"experiment_id": world.exp})["experiment"]["name"] == "private"
    world.call(OWNER, "POST", API + "/runs/log-metric",
               json={"run_id": world.run, "key": "m", "value": 1, "timestamp": 1, "step": 0})
    world.call(OWNER, "POST", API + "/registered-models/set-tag",
               json={"name": "privmodel", "key": "k", "value": "v"})
    # the default permission (READ) lets the stranger read what has no row for them...
    other = world.call(OWNER, "POST", API + "/experiments/create",
                       json={"name": "shared"})["experiment_id"]
    world.call(STRANGER, "GET", API + "/experiments/get", params={"experiment_id": other})
    # ... but not change it
    r = world.request(STRANGER, "POST", API + "/experiments/update",
                      json={"experiment_id": other, "new_name": "mine"})
    assert r.status_code == 403
    # granting EDIT lets them
    world.call(OWNER, "POST", API + "/experiments/permissions/create",
               json={"experiment_id": other, "username": STRANGER[0], "permission": "EDIT"})
    world.call(STRANGER, "POST", API + "/experiments/update",
               json={"experiment_id": other, "new_name": "renamed"})
    r = world.request(STRANGER, "POST", API + "/experiments/delete",
                      json={"experiment_id": other})
    assert r.status_code == 403  # deleting needs MANAGE


def test_an_admin_passes_every_guard(tmp_path):
    server = KeelServer(tmp_path / "keel", "--auth", env=ADMIN_ENV)
    try:
        w = World(server.start())
        for entry in POLICY:
            method, path, kw = request_for(entry, w)
            r = w.request(ADMIN, method, path, **kw)
            assert r.status_code not in (401, 403, 429), (label(entry), r.status_code, r.text)
    finally:
        _shutdown([server])


def test_searches_show_only_what_the_caller_may_read(world):
    def names(who):
        exps = world.call(who, "GET", API + "/experiments/search",
                          params={"max_results": 1000})["experiments"]
        models = world.call(who, "GET", API + "/registered-models/search").get(
            "registered_models", [])
        versions = world.call(who, "GET", API + "/model-versions/search").get(
            "model_versions", [])
        deps = world.call(who, "GET", "/api/2.0/keel/deployments/list")["deployments"]
        return ({e["name"] for e in exps}, {m["name"] for m in models},
                {v["name"] for v in versions}, {d["name"] for d in deps})

    exps, models, versions, deps = names(OWNER)
    assert "private" in exps and models == {"privmodel"} and versions == {"privmodel"}
    assert deps == set()  # a local directory: admins only
    exps, models, versions, deps = names(STRANGER)
    assert "private" not in exps and "Default" in exps
    assert models == set() and versions == set() and deps == set()
    assert names(ADMIN)[3] == {"privdep"}
    # pages are filled from what is readable, not emptied by what is not
    page = world.call(STRANGER, "GET", API + "/experiments/search",
                      params={"max_results": 1})
    assert len(page["experiments"]) == 1 and page["experiments"][0]["name"] != "private"


def test_runs_search_needs_read_on_every_experiment(world):
    r = world.request(STRANGER, "POST", API + "/runs/search",
                      json={"experiment_ids": ["0", world.exp]})
    assert r.status_code == 403
    world.call(STRANGER, "POST", API + "/runs/search", json={"experiment_ids": ["0"]})


def test_user_and_permission_endpoints_answer_as_mlflow(world):
    r = world.request(ADMIN, "POST", API + "/users/create",
                      json={"username": OWNER[0], "password": "another-password"})
    assert r.status_code == 400 and r.json()["error_code"] == "RESOURCE_ALREADY_EXISTS"
    assert r.json()["message"] == "User (username=owner) already exists."
    r = world.request(ADMIN, "POST", API + "/users/create",
                      json={"username": "shorty", "password": "short"})
    assert r.status_code == 400 and "at least 12 characters" in r.json()["message"]
    r = world.request(ADMIN, "GET", API + "/users/get", params={"username": "nobody"})
    assert r.status_code == 404
    assert r.json()["message"] == "User with username=nobody not found"
    user = world.call(STRANGER, "GET", API + "/users/get", params={"username": STRANGER[0]})
    assert user["user"]["username"] == STRANGER[0] and user["user"]["is_admin"] is False
    assert {"experiment_id": world.exp, "user_id": user["user"]["id"],
            "permission": "NO_PERMISSIONS"} in user["user"]["experiment_permissions"]
    r = world.request(OWNER, "POST", API + "/experiments/permissions/create",
                      json={"experiment_id": world.exp, "username": STRANGER[0],
                            "permission": "WRITE"})
    assert r.status_code == 400 and r.json()["message"] == (
        "Invalid permission 'WRITE'. Valid permissions are: ('READ', 'EDIT', 'MANAGE', "
        "'NO_PERMISSIONS')")
    r = world.request(OWNER, "POST", API + "/experiments/permissions/create",
                      json={"experiment_id": world.exp, "username": STRANGER[0],
                            "permission": "READ"})
    assert r.status_code == 400 and r.json()["message"] == (
        f"Experiment permission (experiment_id={world.exp}, username=stranger) already exists.")
    r = world.request(OWNER, "GET", API + "/registered-models/permissions/get",
                      params={"name": "privmodel", "username": ADMIN[0]})
    assert r.status_code == 404 and r.json()["message"] == (
        "Registered model permission with name=privmodel and username=admin not found")
    got = world.call(OWNER, "GET", API + "/registered-models/permissions/get",
                     params={"name": "privmodel", "username": OWNER[0]})
    assert got["registered_model_permission"]["permission"] == "MANAGE"
    # a non-admin cannot make themselves admin
    r = world.request(STRANGER, "PATCH", API + "/users/update-admin",
                      json={"username": STRANGER[0], "is_admin": True})
    assert r.status_code == 403


def test_a_renamed_or_deleted_model_keeps_no_stale_grants(world):
    world.call(OWNER, "POST", API + "/registered-models/create", json={"name": "tmp-model"})
    world.call(OWNER, "POST", API + "/registered-models/rename",
               json={"name": "tmp-model", "new_name": "tmp-model-2"})
    assert world.call(OWNER, "GET", API + "/registered-models/permissions/get",
                      params={"name": "tmp-model-2", "username": OWNER[0]}
                      )["registered_model_permission"]["permission"] == "MANAGE"
    world.call(OWNER, "DELETE", API + "/registered-models/delete", json={"name": "tmp-model-2"})
    # the stranger registers the same name: it is theirs, with no grant left to the owner
    world.call(STRANGER, "POST", API + "/registered-models/create", json={"name": "tmp-model-2"})
    r = world.request(OWNER, "DELETE", API + "/registered-models/delete",
                      json={"name": "tmp-model-2"})
    assert r.status_code == 403
    assert world.request(ADMIN, "GET", API + "/registered-models/permissions/get",
                         params={"name": "tmp-model-2", "username": OWNER[0]}).status_code == 404


def test_passwords_and_tokens_are_stored_only_as_hashes(world):
    token = world.call(OWNER, "POST", "/api/2.0/keel/tokens/create", json={"name": "ci"})
    secret = token["token"]
    db = sqlite3.connect(world.server.data_dir / "keel.db")
    try:
        rows = db.execute("SELECT username, password_hash FROM users").fetchall()
        tokens = db.execute("SELECT id, secret_hash FROM auth_tokens").fetchall()
    finally:
        db.close()
    hashes = dict(rows)
    assert hashes[OWNER[0]].startswith("scrypt$15$8$1$")
    for user, password in (ADMIN, OWNER, STRANGER):
        assert password not in hashes[user]
    assert all(len(h) == 32 and secret.encode() not in h for _, h in tokens)
    assert not any(secret in str(t) for t in tokens)


def test_bearer_tokens_sign_in_until_revoked(world):
    created = world.call(OWNER, "POST", "/api/2.0/keel/tokens/create",
                         json={"name": "deploy-bot", "expires_in_days": 30})
    headers = {"Authorization": "Bearer " + created["token"]}
    r = requests.get(world.server.url + API + "/experiments/get", headers=headers,
                     params={"experiment_id": world.exp}, timeout=30)
    assert r.status_code == 200 and r.json()["experiment"]["name"] == "private"
    info = created["token_info"]
    assert info["username"] == OWNER[0] and info["expiration_time"] > time.time() * 1000
    listed = world.call(OWNER, "GET", "/api/2.0/keel/tokens/list")["tokens"]
    assert info["id"] in {t["id"] for t in listed}
    assert all("token" not in t for t in listed)
    # another user can neither list nor revoke them
    assert world.request(STRANGER, "GET", "/api/2.0/keel/tokens/list",
                         params={"username": OWNER[0]}).status_code == 403
    r = world.request(STRANGER, "POST", "/api/2.0/keel/tokens/revoke", json={"id": info["id"]})
    assert r.status_code == 404
    world.call(OWNER, "POST", "/api/2.0/keel/tokens/revoke", json={"id": info["id"]})
    r = requests.get(world.server.url + API + "/experiments/get", headers=headers,
                     params={"experiment_id": world.exp}, timeout=30)
    assert r.status_code == 401
    # a token with a changed secret is refused too
    other = world.call(OWNER, "POST", "/api/2.0/keel/tokens/create", json={})["token"]
    forged = other[:-1] + ("A" if other[-1] != "A" else "B")
    r = requests.get(world.server.url + "/version", timeout=30,
                     headers={"Authorization": "Bearer " + forged})
    assert r.status_code == 401


def test_a_changed_password_replaces_the_old_one(world):
    world.call(ADMIN, "POST", API + "/users/create",
               json={"username": "mover", "password": "first-password-1"})
    world.call(("mover", "first-password-1"), "GET", "/version")  # remembered now
    world.call(("mover", "first-password-1"), "PATCH", API + "/users/update-password",
               json={"username": "mover", "password": "second-password-2"})
    assert world.request(("mover", "first-password-1"), "GET", "/version").status_code == 401
    world.call(("mover", "second-password-2"), "GET", "/version")
    world.call(ADMIN, "DELETE", API + "/users/delete", json={"username": "mover"})
    assert world.request(("mover", "second-password-2"), "GET", "/version").status_code == 401


def test_repeated_wrong_passwords_are_throttled(world):
    world.call(ADMIN, "POST", API + "/users/create",
               json={"username": "target", "password": "target-password-1"})
    codes = [world.request(("target", f"guess-{i}"), "GET", "/version").status_code
             for i in range(5)]
    assert codes == [401] * 5
    r = world.request(("target", "target-password-1"), "GET", "/version")
    assert r.status_code == 429 and int(r.headers["Retry-After"]) >= 1
    time.sleep(int(r.headers["Retry-After"]) + 0.2)
    assert world.request(("target", "target-password-1"), "GET", "/version").status_code == 200
    # other users are not held up
    assert world.request(OWNER, "GET", "/version").status_code == 200


def test_probes_need_no_credentials(world):
    for path in ("/health", "/ready", "/ping"):
        assert requests.get(world.server.url + path, timeout=30).status_code == 200


def test_a_deployment_of_a_registered_alias_resolves_under_auth(world):
    """The server resolves models:/ URIs through its own API, signing in as itself."""
    url = world.server.url
    exp = world.call(OWNER, "POST", API + "/experiments/create",
                     json={"name": "served"})["experiment_id"]
    run = world.call(OWNER, "POST", API + "/runs/create", json={"experiment_id": exp})["run"]
    info = run["info"]
    for p in sorted(IRIS.iterdir()):
        world.call(OWNER, "PUT",
                   f"/api/2.0/mlflow-artifacts/artifacts/{exp}/{info['run_id']}/artifacts/"
                   f"model/{p.name}", data=p.read_bytes(),
                   headers={"Content-Type": "application/octet-stream"})
    world.call(OWNER, "POST", API + "/registered-models/create", json={"name": "iris"})
    world.call(OWNER, "POST", API + "/model-versions/create",
               json={"name": "iris", "source": info["artifact_uri"] + "/model",
                     "run_id": info["run_id"]})
    world.call(OWNER, "POST", API + "/registered-models/alias",
               json={"name": "iris", "alias": "champion", "version": "1"})
    d = world.call(OWNER, "POST", "/api/2.0/keel/deployments/create",
                   json={"name": "iris-live", "model_uri": "models:/iris@champion"})
    assert d["deployment"]["status"] == "READY" and d["deployment"]["model_version"] == "1"
    csv = (FIXTURES / "golden" / "xgb-classifier-iris" / "input.csv").read_text()
    r = requests.post(url + "/deployments/iris-live/invocations", data=csv, auth=OWNER,
                      headers={"Content-Type": "text/csv"}, timeout=30)
    assert r.status_code == 200 and r.headers["X-Model-Version"] == "1"
    # the stranger may read (default READ) and so score; with NO_PERMISSIONS they may not
    r = requests.post(url + "/deployments/iris-live/invocations", data=csv, auth=STRANGER,
                      headers={"Content-Type": "text/csv"}, timeout=30)
    assert r.status_code == 200
    world.call(OWNER, "POST", API + "/registered-models/permissions/create",
               json={"name": "iris", "username": STRANGER[0], "permission": "NO_PERMISSIONS"})
    r = requests.post(url + "/deployments/iris-live/invocations", data=csv, auth=STRANGER,
                      headers={"Content-Type": "text/csv"}, timeout=30)
    assert r.status_code == 403
    assert requests.post(url + "/deployments/iris-live/invocations", data=csv, timeout=30,
                         headers={"Content-Type": "text/csv"}).status_code == 401


def test_auth_without_users_or_admin_refuses_to_start(tmp_path):
    r = subprocess.run([KEEL_BIN, "server", "--auth", "--port", "0",
                        "--backend-store-uri", f"sqlite:///{tmp_path}/keel.db",
                        "--data-dir", str(tmp_path / "data")],
                       capture_output=True, text=True, timeout=60,
                       env={"PATH": "/usr/bin:/bin"})
    assert r.returncode == 2 and "no users yet" in r.stderr
    r = subprocess.run([KEEL_BIN, "server", "--auth", "--port", "0",
                        "--backend-store-uri", f"sqlite:///{tmp_path}/keel.db",
                        "--data-dir", str(tmp_path / "data"), "--admin-username", "root"],
                       capture_output=True, text=True, timeout=60,
                       env={"PATH": "/usr/bin:/bin", "KEEL_ADMIN_PASSWORD": "short"})
    assert r.returncode == 2 and "at least 12 characters" in r.stderr
    r = subprocess.run([KEEL_BIN, "server", "--auth", "--default-permission", "WRITE"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "--default-permission" in r.stderr


def test_no_permissions_by_default(tmp_path):
    server = KeelServer(tmp_path / "keel", "--auth", "--default-permission", "NO_PERMISSIONS",
                        env=ADMIN_ENV)
    try:
        w = World(server.start())
        other = w.call(OWNER, "POST", API + "/experiments/create",
                       json={"name": "closed"})["experiment_id"]
        r = w.request(STRANGER, "GET", API + "/experiments/get", params={"experiment_id": other})
        assert r.status_code == 403
        exps = w.call(STRANGER, "GET", API + "/experiments/search",
                      params={"max_results": 100}).get("experiments", [])
        assert exps == []
        w.call(OWNER, "POST", API + "/experiments/permissions/create",
               json={"experiment_id": other, "username": STRANGER[0], "permission": "READ"})
        exps = w.call(STRANGER, "GET", API + "/experiments/search",
                      params={"max_results": 100}).get("experiments", [])
        assert [e["name"] for e in exps] == ["closed"]
    finally:
        _shutdown([server])


def audit_records(w):
    got = w.call(ADMIN, "GET", "/api/2.0/keel/audit", params={"max_results": 10000})["records"]
    return [dict(json.loads(r["record"]), hash=r["hash"]) for r in got]


def test_changes_and_refusals_are_in_a_verifiable_audit_log(world, tmp_path):
    world.call(OWNER, "POST", API + "/registered-models/alias",
               json={"name": "privmodel", "alias": "champion", "version": "1"})
    assert world.request(STRANGER, "POST", API + "/experiments/update",
                         json={"experiment_id": world.exp, "new_name": "x"}).status_code == 403
    assert world.request(("owner", "a-wrong-password"), "GET", "/version").status_code == 401
    records = audit_records(world)
    assert [r["seq"] for r in records] == list(range(1, len(records) + 1))
    alias = [r for r in records if r["action"] == "POST /api/2.0/mlflow/registered-models/alias"]
    assert alias[-1]["principal"] == "owner" and alias[-1]["outcome"] == "ok"
    assert alias[-1]["request"] == {"name": "privmodel", "alias": "champion", "version": "1"}
    assert {"type": "registered-model", "id": "privmodel"} in alias[-1]["resource"]
    denied = [r for r in records if r["outcome"] == "denied"
              and r["action"] == "POST /api/2.0/mlflow/experiments/update"]
    assert denied and denied[-1]["principal"] == "stranger"
    assert {"type": "experiment", "id": world.exp} in denied[-1]["resource"]
    assert any(r["outcome"] == "unauthenticated" and r["principal"] == "owner"
               for r in records)
    created = [r for r in records if r["action"] == "POST /api/2.0/mlflow/users/create"]
    assert created and all(r["request"].get("password") in ("***", None) for r in created)
    text = json.dumps(records)
    for _, password in (ADMIN, OWNER, STRANGER):
        assert password not in text
    # newest first, paged back to the first record
    newest, start = [], None
    while True:
        params = {"order": "desc", "max_results": 7}
        if start is not None:
            params["start_seq"] = start
        page = world.call(ADMIN, "GET", "/api/2.0/keel/audit", params=params)
        newest += [r["seq"] for r in page["records"]]
        if "next_start_seq" not in page:
            break
        start = page["next_start_seq"]
    assert newest == list(range(newest[0], 0, -1)) and newest[0] >= records[-1]["seq"]
    assert world.request(ADMIN, "GET", "/api/2.0/keel/audit",
                         params={"order": "sideways"}).status_code == 400
    # only admins read it
    assert world.request(OWNER, "GET", "/api/2.0/keel/audit").status_code == 403
    verdict = world.call(ADMIN, "GET", "/api/2.0/keel/audit/verify")
    assert verdict["ok"] is True and verdict["records"] >= len(records)
    # `keel audit verify` reads a copy of the store and names the first bad record
    copy = tmp_path / "copy.db"
    src = sqlite3.connect(world.server.data_dir / "keel.db")
    dst = sqlite3.connect(copy)
    try:
        src.backup(dst)
    finally:
        src.close()
    uri = f"sqlite:///{copy}"
    r = subprocess.run([KEEL_BIN, "audit", "verify", "--backend-store-uri", uri],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and r.stdout.startswith("ok: "), r.stdout + r.stderr
    listed = subprocess.run([KEEL_BIN, "audit", "list", "--backend-store-uri", uri, "--start",
                             "2", "--max", "3"], capture_output=True, text=True, timeout=60)
    assert [json.loads(line)["seq"] for line in listed.stdout.splitlines()] == [2, 3, 4]
    dst.execute("UPDATE audit_log SET record = replace(record, 'owner', 'nobody') "
                "WHERE seq = (SELECT min(seq) FROM audit_log WHERE record LIKE '%owner%')")
    dst.commit()
    bad = dst.execute("SELECT min(seq) FROM audit_log WHERE record LIKE '%nobody%'").fetchone()[0]
    dst.close()
    r = subprocess.run([KEEL_BIN, "audit", "verify", "--backend-store-uri", uri],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 1 and r.stdout.startswith(f"record {bad} is bad"), r.stdout


def test_a_flood_of_refusals_does_not_flood_the_audit_log(tmp_path):
    server = KeelServer(tmp_path / "keel", "--auth", env=ADMIN_ENV).start()
    try:
        session = requests.Session()
        bad = {"Authorization": "Bearer keel_" + "A" * 16 + "_" + "B" * 43}
        for _ in range(400):
            assert session.get(server.url + "/version", headers=bad, timeout=30).status_code == 401
        records = requests.get(server.url + "/api/2.0/keel/audit", auth=ADMIN, timeout=30,
                               params={"max_results": 10000}).json()["records"]
        refusals = [r for r in records if '"unauthenticated' in r["record"]]
        assert 100 <= len(refusals) < 400  # bounded, and recording went on
        time.sleep(0.1)
        session.get(server.url + "/version", headers=bad, timeout=30)
        records = requests.get(server.url + "/api/2.0/keel/audit", auth=ADMIN, timeout=30,
                               params={"max_results": 10000}).json()["records"]
        assert "not recorded (rate limit)" in records[-1]["record"] or any(
            "not recorded (rate limit)" in r["record"] for r in records)
    finally:
        _shutdown([server])


def test_a_guard_checks_the_value_the_handler_uses(world):
    url = world.server.url
    mine = world.call(STRANGER, "POST", API + "/experiments/create",
                      json={"name": "strangers-own"})["experiment_id"]
    my_run = world.call(STRANGER, "POST", API + "/runs/create",
                        json={"experiment_id": mine})["run"]["info"]["run_id"]
    # a repeated query parameter: the handler takes the last one, so must the guard
    r = requests.get(url + API + "/runs/get", auth=STRANGER, timeout=30,
                     params=[("run_id", world.run), ("run_id", world.run), ("run_uuid", my_run)])
    assert r.status_code == 403, r.text
    r = requests.get(url + API + "/users/get", auth=STRANGER, timeout=30,
                     params=[("username", STRANGER[0]), ("username", OWNER[0])])
    assert r.status_code == 403
    # a logged model's calls act on the body's model_id: it is checked too
    my_model = world.call(STRANGER, "POST", API + "/logged-models",
                          json={"experiment_id": mine, "name": "m"})["model"]["info"]["model_id"]
    r = world.request(STRANGER, "POST", f"{API}/logged-models/{my_model}/params",
                      json={"model_id": world.model_id, "params": [{"key": "k", "value": "v"}]})
    assert r.status_code == 403
    # what a new version points at must be readable by whoever registers it
    world.call(STRANGER, "POST", API + "/registered-models/create", json={"name": "borrowed"})
    r = world.request(STRANGER, "POST", API + "/model-versions/create",
                      json={"name": "borrowed", "source": f"runs:/{world.run}/model"})
    assert r.status_code == 403
    r = world.request(STRANGER, "POST", API + "/model-versions/create",
                      json={"name": "borrowed", "source": "/etc"})
    assert r.status_code == 403
    world.call(STRANGER, "POST", API + "/model-versions/create",
               json={"name": "borrowed", "source": f"runs:/{my_run}/model"})
    # and only an admin says where an experiment's artifacts live
    r = world.request(STRANGER, "POST", API + "/experiments/create",
                      json={"name": "elsewhere", "artifact_location": "/srv/any/dir"})
    assert r.status_code == 400 and "admin" in r.json()["message"]


def test_a_key_sent_twice_is_recorded_as_used(world):
    body = ('{"name": "privmodel", "name": "privmodel", "alias": "twice", "alias": "dup",'
            ' "version": "1"}')
    r = requests.post(world.server.url + API + "/registered-models/alias", data=body,
                      auth=OWNER, headers={"Content-Type": "application/json"}, timeout=30)
    assert r.status_code == 200, r.text
    records = audit_records(world)
    last = [x for x in records if x["action"].endswith("/registered-models/alias")][-1]
    assert last["request"] == {"name": "privmodel", "alias": "dup", "version": "1"}
    assert '"twice"' not in json.dumps(last)


def test_the_servers_own_credential_stays_with_the_server(tmp_path):
    """A model fetched from another host (an artifact URI may name one) gets no credential."""
    import http.server
    import threading
    seen = []

    class Capture(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            seen.append(self.headers.get("Authorization"))
            self.send_response(404)
            self.end_headers()

        def log_message(self, *args):
            pass

    other = http.server.HTTPServer(("127.0.0.1", 0), Capture)
    threading.Thread(target=other.serve_forever, daemon=True).start()
    server = KeelServer(tmp_path / "keel", "--auth", env=ADMIN_ENV)
    try:
        server.start()
        port = other.server_address[1]
        exp = requests.post(server.url + API + "/experiments/create", auth=ADMIN, timeout=30,
                            json={"name": "far", "artifact_location":
                                  f"mlflow-artifacts://127.0.0.1:{port}/far"}).json()
        run = requests.post(server.url + API + "/runs/create", auth=ADMIN, timeout=30,
                            json={"experiment_id": exp["experiment_id"]}).json()["run"]["info"]
        r = requests.post(server.url + "/api/2.0/keel/deployments/create", auth=ADMIN,
                          timeout=60, json={"name": "far",
                                            "model_uri": f"runs:/{run['run_id']}/model"})
        assert r.status_code != 200  # nothing there to load
        assert seen, "the other host was never asked"
        assert all(h is None for h in seen), seen
    finally:
        other.shutdown()
        _shutdown([server])
