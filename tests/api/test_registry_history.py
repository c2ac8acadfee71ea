# Registry history from the audit log (GET /api/2.0/keel/models/history, `keel models
# history`): every move of an alias and the version it named at any moment, through a
# rename; stage transitions with archive_existing_versions; deleted versions end what
# pointed at them.
import json
import subprocess
import time

import requests

from conftest import KEEL_BIN

API = "/api/2.0/mlflow"
HISTORY = "/api/2.0/keel/models/history"


def ok(r):
    assert r.status_code == 200, (r.request.method, r.request.url, r.status_code, r.text)
    return r.json()


def call(keel, method, path, **kw):
    return ok(requests.request(method, keel.url + path, timeout=30, **kw))


def history(keel, **params):
    return call(keel, "GET", HISTORY, params=params)


def tick():
    """Moments the log can tell apart (its times are milliseconds)."""
    time.sleep(0.02)
    return int(time.time() * 1000)


def test_what_champion_was_when(keel):
    call(keel, "POST", API + "/registered-models/create", json={"name": "fraud"})
    for _ in range(3):
        call(keel, "POST", API + "/model-versions/create",
             json={"name": "fraud", "source": "mlflow-artifacts:/0/model"})
    t0 = tick()
    call(keel, "POST", API + "/registered-models/alias",
         json={"name": "fraud", "alias": "champion", "version": "1"})
    t1 = tick()
    call(keel, "POST", API + "/registered-models/alias",
         json={"name": "fraud", "alias": "champion", "version": "2"})
    call(keel, "POST", API + "/registered-models/alias",  # another alias: not in its history
         json={"name": "fraud", "alias": "challenger", "version": "3"})
    t2 = tick()
    call(keel, "DELETE", API + "/registered-models/alias",
         json={"name": "fraud", "alias": "champion"})
    t3 = tick()
    call(keel, "POST", API + "/registered-models/rename",
         json={"name": "fraud", "new_name": "fraud-v2"})
    call(keel, "POST", API + "/registered-models/alias",
         json={"name": "fraud-v2", "alias": "champion", "version": "3"})
    t4 = tick()
    call(keel, "DELETE", API + "/model-versions/delete", json={"name": "fraud-v2", "version": "3"})
    t5 = tick()

    h = history(keel, name="fraud-v2", alias="champion")
    assert [(e["event"], e.get("version")) for e in h["events"]] == [
        ("model_created", None), ("alias_set", "1"), ("alias_set", "2"),
        ("alias_deleted", None), ("model_renamed", None), ("alias_set", "3"),
        ("version_deleted", "3")]
    assert h["events"][4]["from"] == "fraud" and h["events"][4]["to"] == "fraud-v2"
    times = [e["time"] for e in h["events"]]
    assert times == sorted(times) and times[0] <= t0 <= times[1] <= t1
    expected = {t0: None, t1: "1", t2: "2", t3: None, t4: "3", t5: None}
    for t, version in expected.items():
        assert history(keel, name="fraud-v2", alias="champion", at=t).get("version") == version, t
    # the old name's history stops at the rename; a name never used has none
    assert [e["event"] for e in history(keel, name="fraud", alias="champion")["events"]] == [
        "model_created", "alias_set", "alias_set", "alias_deleted", "model_renamed"]
    assert history(keel, name="nothing-here", alias="champion")["events"] == []
    # a name reused by a new model shows none of the old model's history
    call(keel, "POST", API + "/registered-models/create", json={"name": "fraud"})
    assert [e["event"] for e in history(keel, name="fraud", alias="champion")["events"]] == [
        "model_created"]
    # the whole model: every alias and stage event
    everything = history(keel, name="fraud-v2")["events"]
    assert any(e.get("alias") == "challenger" for e in everything)


def test_what_was_in_production_when(keel):
    call(keel, "POST", API + "/registered-models/create", json={"name": "churn"})
    for _ in range(3):
        call(keel, "POST", API + "/model-versions/create",
             json={"name": "churn", "source": "mlflow-artifacts:/0/model"})
    call(keel, "POST", API + "/model-versions/transition-stage",
         json={"name": "churn", "version": "1", "stage": "Production"})
    t1 = tick()
    call(keel, "POST", API + "/model-versions/transition-stage",
         json={"name": "churn", "version": "2", "stage": "Production"})
    t2 = tick()
    call(keel, "POST", API + "/model-versions/transition-stage",
         json={"name": "churn", "version": "3", "stage": "Production",
               "archive_existing_versions": True})
    t3 = tick()
    at = {t: history(keel, name="churn", stage="Production", at=t) for t in (t1, t2, t3)}
    assert at[t1]["versions"] == ["1"] and at[t1]["latest_version"] == "1"
    assert sorted(at[t2]["versions"]) == ["1", "2"] and at[t2]["latest_version"] == "2"
    assert at[t3]["versions"] == ["3"]
    assert history(keel, name="churn", stage="Archived", at=t3)["versions"] == ["1", "2"]
    events = [e for e in history(keel, name="churn", stage="Production")["events"]
              if e["event"] == "stage_transition"]
    assert [e["version"] for e in events] == ["1", "2", "3"]
    assert events[2]["archive_existing_versions"] is True


def test_history_refuses_bad_questions(keel):
    r = requests.get(keel.url + HISTORY, params={"name": "m", "alias": "a", "stage": "s"},
                     timeout=30)
    assert r.status_code == 400
    r = requests.get(keel.url + HISTORY, params={"alias": "a"}, timeout=30)
    assert r.status_code == 400 and "name" in r.json()["message"]


def test_the_history_command(keel):
    call(keel, "POST", API + "/registered-models/create", json={"name": "m"})
    call(keel, "POST", API + "/model-versions/create",
         json={"name": "m", "source": "mlflow-artifacts:/0/model"})
    call(keel, "POST", API + "/registered-models/alias",
         json={"name": "m", "alias": "prod", "version": "1"})
    r = subprocess.run([KEEL_BIN, "models", "history", "-n", "m", "--alias", "prod", "--at",
                        str(int(time.time() * 1000) + 1000), "--tracking-uri", keel.url],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    answer = json.loads(r.stdout)
    assert answer["version"] == "1" and answer["events"][-1]["event"] == "alias_set"
    r = subprocess.run([KEEL_BIN, "models", "history", "-n", "m", "--at", "2026-03-03",
                        "--tracking-uri", keel.url], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    r = subprocess.run([KEEL_BIN, "models", "history", "-n", "m", "--at", "yesterday"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "invalid --at" in r.stderr


def test_a_store_from_before_the_action_column_keeps_its_history(tmp_path):
    """Migration 9 fills the action column of records written before it existed: a
    model's history, now read by that column's index, still finds them, and the chain
    still verifies."""
    import sqlite3
    from conftest import KeelServer
    server = KeelServer(tmp_path).start()
    try:
        call(server, "POST", API + "/registered-models/create", json={"name": "m"})
        call(server, "POST", API + "/model-versions/create",
             json={"name": "m", "source": "mlflow-artifacts:/0/model"})
        call(server, "POST", API + "/registered-models/alias",
             json={"name": "m", "alias": "prod", "version": "1"})
    finally:
        server.stop()
    # the store as the schema before migration 9 left it
    db = sqlite3.connect(tmp_path / "keel.db")
    assert db.execute("PRAGMA user_version").fetchone()[0] >= 9
    assert db.execute("SELECT count(*) FROM audit_log WHERE action LIKE '%/alias'").fetchone()[0]
    db.execute("DROP INDEX audit_log_registry")
    db.execute("ALTER TABLE audit_log DROP COLUMN action")
    db.execute("PRAGMA user_version = 8")
    db.commit()
    db.close()
    server.start()
    try:
        events = history(server, name="m", alias="prod")["events"]
        assert [(e["event"], e.get("version")) for e in events] == [
            ("model_created", None), ("alias_set", "1")]
        verify = call(server, "GET", "/api/2.0/keel/audit/verify")
        assert verify["ok"] is True and verify["records"] >= 3, verify
    finally:
        server.stop()
    db = sqlite3.connect(tmp_path / "keel.db")
    assert db.execute("PRAGMA user_version").fetchone()[0] >= 9
    plan = " ".join(r[-1] for r in db.execute(
        "EXPLAIN QUERY PLAN SELECT seq FROM audit_log INDEXED BY audit_log_registry WHERE "
        "(action LIKE '%/mlflow/registered-models/%' OR action LIKE '%/mlflow/model-versions/%')"))
    assert "audit_log_registry" in plan, plan
