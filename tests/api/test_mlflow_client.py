# The unmodified MLflow Python clients against a real keel server: tracking calls, artifact
# logging and download, model logging, registration and loading, for both generations.
# Debian packages no MLflow, so each generation runs where its client is importable: a
# PYTHONPATH named by KEEL_MLFLOW_SRC (an MLflow 2.x source tree) or KEEL_MLFLOW3_SRC (an
# MLflow 3.x source tree plus the pure-Python packages it imports that Debian lacks, e.g.
# opentelemetry and databricks-sdk); elsewhere the tests skip, saying so.
import os
import subprocess
import sys
import textwrap

import pytest
import requests

from conftest import KeelServer, _shutdown

SCRIPT = textwrap.dedent(
    """
    import math, mlflow
    from mlflow import MlflowClient
    from mlflow.entities import Metric, Param, RunTag

    mlflow.set_tracking_uri(URL)
    exp_id = mlflow.set_experiment("client-e2e").experiment_id
    client = MlflowClient()
    with mlflow.start_run(run_name="parent") as parent:
        mlflow.log_param("C", 1.0)
        mlflow.log_params({"solver": "lbfgs", "max_iter": 100})
        for step, loss in enumerate([0.69, 0.51, 0.44]):
            mlflow.log_metric("train_loss", loss, step=step)
        mlflow.log_metrics({"accuracy": 0.82, "nan_metric": float("nan")})
        mlflow.set_tag("team", "growth")
        mlflow.set_tags({"stage": "dev", "to_delete": "x"})
        client.delete_tag(parent.info.run_id, "to_delete")
        with mlflow.start_run(run_name="child", nested=True) as child:
            mlflow.log_metric("accuracy", 0.9)
        client.log_batch(parent.info.run_id,
                         metrics=[Metric("m", 1.5, 1700000000000, 3)],
                         params=[Param("p", "v")], tags=[RunTag("t", "u")])
    run = client.get_run(parent.info.run_id)
    assert run.info.status == "FINISHED", run.info
    assert run.data.params == {"C": "1.0", "solver": "lbfgs", "max_iter": "100", "p": "v"}
    assert run.data.metrics["train_loss"] == 0.44
    assert math.isnan(run.data.metrics["nan_metric"])
    assert "to_delete" not in run.data.tags and run.data.tags["team"] == "growth"
    hist = client.get_metric_history(parent.info.run_id, "train_loss")
    assert [m.value for m in sorted(hist, key=lambda m: m.step)] == [0.69, 0.51, 0.44]
    children = mlflow.search_runs([exp_id], filter_string=
        f"tags.mlflow.parentRunId = '{parent.info.run_id}'", output_format="list")
    assert [r.info.run_id for r in children] == [child.info.run_id]
    best = client.search_runs([exp_id], "metrics.accuracy > 0.85", order_by=["metrics.accuracy DESC"])
    assert [r.info.run_name for r in best] == ["child"]
    exps = client.search_experiments(filter_string="name = 'client-e2e'")
    assert [e.experiment_id for e in exps] == [exp_id]
    client.rename_experiment(exp_id, "client-e2e-renamed")
    assert client.get_experiment_by_name("client-e2e-renamed").experiment_id == exp_id
    client.delete_run(child.info.run_id)
    assert client.get_run(child.info.run_id).info.lifecycle_stage == "deleted"
    client.restore_run(child.info.run_id)
    client.delete_experiment(exp_id)
    client.restore_experiment(exp_id)
    print("OK")
    """
)


ARTIFACT_SCRIPT = textwrap.dedent(
    """
import os, tempfile, mlflow, numpy as np
from mlflow import MlflowClient
mlflow.set_tracking_uri(URL)
mlflow.set_experiment("artifacts-e2e")
d = tempfile.mkdtemp()
with open(os.path.join(d, "notes.txt"), "w") as f: f.write("hello keel\\n")
os.makedirs(os.path.join(d, "plots", "deep"))
with open(os.path.join(d, "plots", "deep", "a.bin"), "wb") as f: f.write(os.urandom(3 << 20))
with mlflow.start_run() as run:
    mlflow.log_artifact(os.path.join(d, "notes.txt"))
    mlflow.log_artifacts(os.path.join(d, "plots"), artifact_path="plots")
    from sklearn.linear_model import LogisticRegression
    X = np.array([[0.0, 1.0], [1.0, 0.0], [0.5, 0.5], [0.9, 0.1]]); y = np.array([0, 1, 0, 1])
    model = LogisticRegression().fit(X, y)
    mlflow.sklearn.log_model(model, "model", registered_model_name=None)
client = MlflowClient()
names = sorted(a.path for a in client.list_artifacts(run.info.run_id))
# MLflow 3 stores a model as a logged model, outside the run's artifacts.
M3 = mlflow.__version__.startswith("3.")
assert names == (["notes.txt", "plots"] if M3 else ["model", "notes.txt", "plots"]), names
deep = [a.path for a in client.list_artifacts(run.info.run_id, "plots/deep")]
assert deep == ["plots/deep/a.bin"], deep
out = mlflow.artifacts.download_artifacts(run_id=run.info.run_id, artifact_path="plots")
with open(os.path.join(out, "deep", "a.bin"), "rb") as f, open(os.path.join(d, "plots", "deep", "a.bin"), "rb") as g:
    assert f.read() == g.read()
loaded = mlflow.pyfunc.load_model(f"runs:/{run.info.run_id}/model")
assert list(loaded.predict(X)) == list(model.predict(X))
print("OK")
"""
)


REGISTRY_SCRIPT = textwrap.dedent(
    """
import mlflow, numpy as np
from mlflow import MlflowClient
from sklearn.linear_model import LogisticRegression
mlflow.set_tracking_uri(URL)
mlflow.set_experiment("registry-e2e")
X = np.array([[0.0, 1.0], [1.0, 0.0], [0.5, 0.5], [0.9, 0.1]]); y = np.array([0, 1, 0, 1])
model = LogisticRegression().fit(X, y)
with mlflow.start_run() as run:
    info = mlflow.sklearn.log_model(model, "model", registered_model_name="churn")
client = MlflowClient()
mv = client.get_model_version("churn", "1")
assert mv.run_id == run.info.run_id and mv.status == "READY", mv
v2 = mlflow.register_model(f"runs:/{run.info.run_id}/model", "churn")
assert v2.version == "2", v2
client.set_registered_model_alias("churn", "champion", "2")
assert client.get_model_version_by_alias("churn", "champion").version == "2"
loaded = mlflow.pyfunc.load_model("models:/churn@champion")
assert list(loaded.predict(X)) == list(model.predict(X))
loaded = mlflow.pyfunc.load_model("models:/churn/1")
assert list(loaded.predict(X)) == list(model.predict(X))
client.transition_model_version_stage("churn", "1", "Production")
assert [v.version for v in client.get_latest_versions("churn", ["Production"])] == ["1"]
client.set_model_version_tag("churn", "1", "validated", "true")
client.update_registered_model("churn", description="churn model")
assert [m.name for m in client.search_registered_models("name LIKE 'chu%'")] == ["churn"]
assert sorted(v.version for v in client.search_model_versions("name = 'churn'")) == ["1", "2"]
assert [v.version for v in client.search_model_versions(f"run_id = '{run.info.run_id}' and version_number > 1")] == ["2"]
client.rename_registered_model("churn", "churn-v2")
assert client.get_registered_model("churn-v2").aliases == {"champion": "2"}
client.delete_registered_model_alias("churn-v2", "champion")
client.delete_model_version("churn-v2", "2")
client.delete_registered_model("churn-v2")
print("OK")
"""
)


MLFLOW3_SCRIPT = textwrap.dedent(
    """
import mlflow, numpy as np, xgboost as xgb
from mlflow import MlflowClient
from sklearn.linear_model import LogisticRegression
assert mlflow.__version__.startswith("3."), mlflow.__version__
mlflow.set_tracking_uri(URL)
exp_id = mlflow.set_experiment("mlflow3-e2e").experiment_id
client = MlflowClient()
X = np.array([[0.0, 1.0], [1.0, 0.0], [0.5, 0.5], [0.9, 0.1]]); y = np.array([0, 1, 0, 1])

# log_model creates a logged model, uploads into it and registers a version from it.
model = LogisticRegression().fit(X, y)
with mlflow.start_run() as run:
    info = mlflow.sklearn.log_model(model, name="clf", registered_model_name="fraud",
                                    input_example=X[:2], params={"C": 1.0})
    mlflow.log_metric("auc", 0.91, model_id=info.model_id)
assert info.model_id.startswith("m-") and str(info.registered_model_version) == "1", info
lm = mlflow.get_logged_model(info.model_id)
assert lm.status == "READY" and lm.source_run_id == run.info.run_id, lm
assert lm.name == "clf" and lm.params == {"C": "1.0"}, lm
assert [m.value for m in lm.metrics if m.key == "auc"] == [0.91], lm.metrics
mv = client.get_model_version("fraud", "1")
# MLflow 3 servers do not echo model_id on versions; the source names the model.
assert mv.run_id == run.info.run_id and mv.source == f"models:/{info.model_id}", mv
assert client.get_run(run.info.run_id).outputs.model_outputs[0].model_id == info.model_id

# Loading through every URI form the 3.x client resolves.
for uri in (f"models:/{info.model_id}", "models:/fraud/1", info.model_uri):
    assert list(mlflow.pyfunc.load_model(uri).predict(X)) == list(model.predict(X)), uri

# register_model from a logged model, an alias, and loading by alias.
v2 = mlflow.register_model(f"models:/{info.model_id}", "fraud")
assert v2.version == "2", v2
client.set_registered_model_alias("fraud", "champion", "2")
assert list(mlflow.pyfunc.load_model("models:/fraud@champion").predict(X)) == list(model.predict(X))
tags = mlflow.get_logged_model(info.model_id).tags
assert "mlflow.modelVersions" in tags, tags

# Logged-model search as the 3.x client drives it.
found = mlflow.search_logged_models(experiment_ids=[exp_id], filter_string="name = 'clf'",
                                    output_format="list")
assert [m.model_id for m in found] == [info.model_id], found
found = mlflow.search_logged_models(experiment_ids=[exp_id],
                                    filter_string="metrics.auc > 0.9", output_format="list")
assert [m.model_id for m in found] == [info.model_id], found

# Autologging: the booster, its metrics and its model, with no explicit log call.
mlflow.xgboost.autolog()
with mlflow.start_run() as auto_run:
    dtrain = xgb.DMatrix(X, label=y)
    xgb.train({"objective": "binary:logistic"}, dtrain, num_boost_round=3,
              evals=[(dtrain, "train")])
mlflow.xgboost.autolog(disable=True)
auto = client.get_run(auto_run.info.run_id)
assert "train-logloss" in auto.data.metrics, auto.data.metrics
assert auto.data.params.get("objective") == "binary:logistic", auto.data.params
hist = client.get_metric_history(auto_run.info.run_id, "train-logloss")
assert [m.step for m in hist] == [0, 1, 2], hist
models = mlflow.search_logged_models(experiment_ids=[exp_id],
                                     filter_string=f"source_run_id = '{auto_run.info.run_id}'",
                                     output_format="list")
assert len(models) == 1 and models[0].status == "READY", models
booster = mlflow.pyfunc.load_model(f"models:/{models[0].model_id}")
assert len(booster.predict(X)) == len(X)
print("OK")
"""
)


GENERATIONS = {"2": "KEEL_MLFLOW_SRC", "3": "KEEL_MLFLOW3_SRC"}


def _mlflow_env(generation):
    src = os.environ.get(GENERATIONS[generation])
    if not src:
        return None
    env = dict(os.environ, MLFLOW_DISABLE_TELEMETRY="true")
    env["PYTHONPATH"] = src + os.pathsep + env.get("PYTHONPATH", "")
    probe = subprocess.run([sys.executable, "-c", "import mlflow; print(mlflow.__version__)"],
                           env=env, capture_output=True, text=True)
    if probe.returncode != 0 or not probe.stdout.strip().startswith(generation + "."):
        return None
    return env


def _run_client(keel, script, generation, **extra_env):
    env = _mlflow_env(generation)
    if env is None:
        pytest.skip(f"no MLflow {generation}.x client importable (Debian has no package; "
                    f"set {GENERATIONS[generation]})")
    env.update(extra_env)
    r = subprocess.run([sys.executable, "-c", f"URL = {keel.url!r}\n" + script], env=env,
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0 and r.stdout.strip().endswith("OK"), r.stdout + r.stderr


@pytest.mark.parametrize("generation", sorted(GENERATIONS))
def test_mlflow_client_tracking_calls(keel, generation):
    _run_client(keel, SCRIPT, generation)


@pytest.mark.parametrize("generation", sorted(GENERATIONS))
def test_mlflow_client_artifacts_and_models(keel, generation):
    _run_client(keel, ARTIFACT_SCRIPT, generation)


@pytest.mark.parametrize("generation", sorted(GENERATIONS))
def test_mlflow_client_registry(keel, generation):
    _run_client(keel, REGISTRY_SCRIPT, generation)


def test_mlflow3_client_logged_models_registry_autolog(keel):
    _run_client(keel, MLFLOW3_SCRIPT, "3")


DENIED_SCRIPT = textwrap.dedent(
    """
import mlflow
from mlflow.exceptions import MlflowException
mlflow.set_tracking_uri(URL)
try:
    mlflow.MlflowClient().search_experiments()
except MlflowException as e:
    assert "401" in str(e), e
    print("OK")
"""
)

TOKEN_SCRIPT = textwrap.dedent(
    """
import mlflow
mlflow.set_tracking_uri(URL)
client = mlflow.MlflowClient()
exp = client.create_experiment("made-with-a-token")
assert "made-with-a-token" in [e.name for e in client.search_experiments()]
# another user's experiment with NO_PERMISSIONS for this one is neither listed nor readable
assert "closed" not in [e.name for e in client.search_experiments()]
try:
    client.get_experiment_by_name("closed")
    raise SystemExit("read an experiment without permission")
except mlflow.exceptions.MlflowException as e:
    assert "403" in str(e), e
print("OK")
"""
)


@pytest.mark.parametrize("generation", sorted(GENERATIONS))
def test_mlflow_client_with_credentials(tmp_path, generation):
    """--auth: the unmodified client signs in with MLFLOW_TRACKING_USERNAME/_PASSWORD or
    MLFLOW_TRACKING_TOKEN, does the whole registry workflow as a non-admin user, and is
    refused with a wrong password or without the permission."""
    if _mlflow_env(generation) is None:
        pytest.skip(f"no MLflow {generation}.x client importable (set {GENERATIONS[generation]})")
    admin = ("admin", "admin-password-1")
    server = KeelServer(tmp_path / "keel", "--auth",
                        env={"KEEL_ADMIN_USERNAME": admin[0], "KEEL_ADMIN_PASSWORD": admin[1]})
    try:
        server.start()
        for user in ("alice", "mallory"):
            r = requests.post(server.url + "/api/2.0/mlflow/users/create", auth=admin,
                              json={"username": user, "password": user + "-password-1"},
                              timeout=30)
            assert r.status_code == 200, r.text
        _run_client(server, REGISTRY_SCRIPT, generation, MLFLOW_TRACKING_USERNAME="alice",
                    MLFLOW_TRACKING_PASSWORD="alice-password-1")
        _run_client(server, DENIED_SCRIPT, generation, MLFLOW_TRACKING_USERNAME="alice",
                    MLFLOW_TRACKING_PASSWORD="wrong-password")
        closed = requests.post(server.url + "/api/2.0/mlflow/experiments/create", auth=admin,
                               json={"name": "closed"}, timeout=30).json()["experiment_id"]
        requests.post(server.url + "/api/2.0/mlflow/experiments/permissions/create", auth=admin,
                      json={"experiment_id": closed, "username": "mallory",
                            "permission": "NO_PERMISSIONS"}, timeout=30).raise_for_status()
        token = requests.post(server.url + "/api/2.0/keel/tokens/create",
                              auth=("mallory", "mallory-password-1"), json={"name": "ci"},
                              timeout=30).json()["token"]
        _run_client(server, TOKEN_SCRIPT, generation, MLFLOW_TRACKING_TOKEN=token)
    finally:
        _shutdown([server])
