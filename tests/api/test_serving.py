# `keel models serve` against the recordings of MLflow's own scoring server: every wire
# exchange of every XGBoost fixture model (../shared/fixtures/golden/<model>/wire/) is sent
# byte for byte and the answer compared byte for byte -- status, Content-Type and body --
# except where the recording cannot be reproduced outside Python, each named below with
# the narrower comparison it gets.
import http.client
import json

import pytest

from conftest import FIXTURES, KEEL_BIN, ModelServer, _shutdown

XGB_MODELS = ["xgb-booster-binary", "xgb-booster-binary-json", "xgb-booster-binary-ubj",
              "xgb-classifier-iris", "xgb-regressor-diabetes"]


def exchanges(model):
    path = FIXTURES / "golden" / model / "wire" / "exchanges.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def send(url, method, path, headers, body):
    """One request on its own connection, headers exactly as the recorder sent them."""
    host, port = url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=30)
    try:
        conn.putrequest(method, path, skip_accept_encoding=True)
        for k, v in headers.items():
            conn.putheader(k, v)
        data = None if body is None else body.encode()
        if data is not None:
            conn.putheader("Content-Length", str(len(data)))
        conn.endheaders(data)
        r = conn.getresponse()
        return r.status, r.getheader("Content-Type"), r.read().decode()
    finally:
        conn.close()


@pytest.fixture(scope="module", params=XGB_MODELS)
def served(request, tmp_path_factory):
    model = request.param
    server = ModelServer(tmp_path_factory.mktemp("serve"), FIXTURES / "models" / model)
    try:
        yield model, server.start()
    finally:
        _shutdown([server])


# Messages that embed pandas/numpy reprs of the whole input: keel keeps MLflow's fixed
# text and the schema and replaces only the repr of the data.
REPR_MESSAGE = "Failed to predict data '"


def split_repr_message(msg):
    """(prefix, schema repr, final clause) of a 'Failed to predict data' message."""
    schema = msg[msg.index(" with schema '") + len(" with schema '"):msg.rindex("'. Error: ")]
    return msg[:len(REPR_MESSAGE)], schema, msg[msg.rindex("'. Error: "):]


def check_exchange(x, status, ctype, body):
    name = x["name"]
    exp_status, exp_ctype = x["status"], x["response_headers"]["Content-Type"]
    exp_body = x["response_body"]
    if exp_status == 500:
        # MLflow crashes without a Content-Type; keel says what is missing
        assert x["request_headers"] == {}, name
        assert (status, ctype) == (415, "text/plain; charset=utf-8"), (name, status, body)
        assert body.startswith("This predictor only supports the following content types"), body
        return
    assert (status, ctype) == (exp_status, exp_ctype), (name, status, ctype, body[:300])
    if not exp_ctype.startswith("application/json") or status == 200:
        assert body == exp_body, name
        return
    expected, actual = json.loads(exp_body), json.loads(body)
    # the Python traceback some MLflow errors carry is not part of the protocol
    expected.pop("stack_trace", None)
    assert list(actual) == list(expected), (name, actual)
    assert actual["error_code"] == expected["error_code"], (name, actual)
    if expected["message"].startswith(REPR_MESSAGE):
        assert split_repr_message(actual["message"]) == split_repr_message(expected["message"]), \
            (name, actual["message"])
        return
    # the exact text, and the exact bytes of the body as Python's json.dumps writes it
    assert actual["message"] == expected["message"], name
    assert body == json.dumps(expected), name


def test_wire_exchanges_replay(served):
    model, server = served
    failures = []
    for x in exchanges(model):
        status, ctype, body = send(server.url, x["method"], x["path"], x["request_headers"],
                                   x["request_body"])
        try:
            check_exchange(x, status, ctype, body)
        except AssertionError as e:
            failures.append(f"{x['name']}: {e}")
    assert server.proc.poll() is None, server.stderr()[-2000:]
    assert not failures, "\n".join(failures)


def test_predictions_equal_pyfunc_bit_for_bit(served):
    model, server = served
    golden = json.loads((FIXTURES / "golden" / model / "pyfunc_predictions.json").read_text())
    csv = (FIXTURES / "golden" / model / "input.csv").read_text()
    status, _, body = send(server.url, "POST", "/invocations", {"Content-Type": "text/csv"}, csv)
    assert status == 200, body
    got = json.loads(body)["predictions"]
    # float32 results widened exactly: equal as doubles means equal bit for bit
    assert got == golden["predictions"]
    assert [type(v) for v in got] == [type(v) for v in golden["predictions"]]


def test_mlflow3_model_directory_serves_the_same_predictions(tmp_path):
    server = ModelServer(tmp_path, FIXTURES / "models" / "xgb-booster-binary-mlflow3").start()
    try:
        golden = json.loads(
            (FIXTURES / "golden" / "xgb-booster-binary" / "pyfunc_predictions.json").read_text())
        csv = (FIXTURES / "golden" / "xgb-booster-binary" / "input.csv").read_text()
        status, _, body = send(server.url, "POST", "/invocations",
                               {"Content-Type": "text/csv"}, csv)
        assert status == 200, body
        assert json.loads(body)["predictions"] == golden["predictions"]
        mlmodel = (FIXTURES / "models" / "xgb-booster-binary-mlflow3" / "MLmodel").read_text()
        version = next(line.split(":", 1)[1].strip() for line in mlmodel.splitlines()
                       if line.startswith("mlflow_version:"))
        assert send(server.url, "GET", "/version", {}, None)[2] == version
    finally:
        _shutdown([server])


def test_flavor_keel_cannot_run_is_refused_at_start(tmp_path):
    import subprocess
    r = subprocess.run([KEEL_BIN, "models", "serve", "-m",
                        str(FIXTURES / "models" / "sklearn-logreg-iris"), "--port", "0"],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode != 0
    assert "sklearn" in r.stderr and "xgboost" in r.stderr, r.stderr


def test_missing_model_directory_is_refused_at_start(tmp_path):
    import subprocess
    r = subprocess.run([KEEL_BIN, "models", "serve", "-m", str(tmp_path / "nope"),
                        "--port", "0"], capture_output=True, text=True, timeout=30)
    assert r.returncode != 0 and "MLmodel" in r.stderr, r.stderr
