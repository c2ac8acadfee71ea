# `keel models serve` beyond the recorded exchanges: the KServe v2 / Open Inference Protocol
# routes on the same models, the request limits (--max-body-bytes, --max-rows), hostile and
# malformed input, and concurrent clients -- every answer checked against the fixtures'
# golden predictions, and the server checked alive after each abuse.
import concurrent.futures
import csv
import io
import json
import math
import socket

import pytest
import requests

from conftest import FIXTURES, ModelServer, _shutdown, golden

IRIS = "xgb-classifier-iris"
BREAST = "xgb-booster-binary"


def golden_rows(model):
    """The golden input's columns, its rows as numbers, the predictions, and the text."""
    text, preds = golden(model)
    rows = list(csv.reader(io.StringIO(text)))
    return rows[0], [[float(v) for v in r] for r in rows[1:]], preds, text


@pytest.fixture(scope="module")
def iris(tmp_path_factory):
    server = ModelServer(tmp_path_factory.mktemp("iris"), FIXTURES / "models" / IRIS,
                         "--max-rows", "1000", "--max-body-bytes", str(4 << 20), "--name", "iris")
    try:
        yield server.start()
    finally:
        _shutdown([server])


@pytest.fixture(scope="module")
def breast(tmp_path_factory):
    server = ModelServer(tmp_path_factory.mktemp("breast"), FIXTURES / "models" / BREAST)
    try:
        yield server.start()
    finally:
        _shutdown([server])


def invoke(server, body, ctype="application/json"):
    data = body if isinstance(body, (str, bytes)) else json.dumps(body)
    return requests.post(server.url + "/invocations", data=data,
                         headers={"Content-Type": ctype}, timeout=30)


# ---- KServe v2 ----

def test_v2_health_and_metadata(iris):
    assert requests.get(iris.url + "/v2/health/live").json() == {"live": True}
    assert requests.get(iris.url + "/v2/health/ready").json() == {"ready": True}
    assert requests.get(iris.url + "/v2/models/iris/ready").json() == {"name": "iris",
                                                                       "ready": True}
    meta = requests.get(iris.url + "/v2/models/iris").json()
    cols, _, _, _ = golden_rows(IRIS)
    assert meta["name"] == "iris" and meta["platform"] == "xgboost"
    assert [i["name"] for i in meta["inputs"]] == cols
    assert meta["outputs"] == [{"name": "predict", "datatype": "INT64", "shape": [-1]}]
    assert requests.get(iris.url + "/v2").json()["name"] == "keel"


def test_v2_infer_one_matrix_tensor(iris):
    _, rows, preds, _ = golden_rows(IRIS)
    body = {"id": "req-1", "inputs": [{"name": "x", "shape": [len(rows), 4], "datatype": "FP64",
                                       "data": [v for r in rows for v in r]}]}
    r = requests.post(iris.url + "/v2/models/iris/infer", json=body)
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["model_name"] == "iris" and out["id"] == "req-1"
    assert out["outputs"] == [{"name": "predict", "datatype": "INT64", "shape": [len(rows)],
                               "data": preds}]
    # nested rows are the same tensor
    body["inputs"][0]["data"] = rows
    assert requests.post(iris.url + "/v2/models/iris/infer", json=body).json()["outputs"] == \
        out["outputs"]


def test_v2_infer_one_tensor_per_column(breast):
    cols, rows, preds, _ = golden_rows(BREAST)
    inputs = [{"name": c, "shape": [len(rows)], "datatype": "FP64",
               "data": [r[i] for r in rows]} for i, c in enumerate(cols)]
    r = requests.post(breast.url + "/v2/models/model/infer", json={"inputs": inputs[::-1]})
    assert r.status_code == 200, r.text
    out = r.json()["outputs"][0]
    assert out["datatype"] == "FP32" and out["shape"] == [len(rows)]
    # FP32 results widened to double: equal to pyfunc's float32 values exactly
    assert out["data"] == preds


@pytest.mark.parametrize("body, status, needle", [
    ({"inputs": []}, 400, "non-empty"),
    ({"inputs": [{"name": "x", "shape": [1, 3], "datatype": "FP64", "data": [1, 2, 3]}]}, 400,
     "4 features"),
    ({"inputs": [{"name": "x", "shape": [2, 4], "datatype": "FP64", "data": [1, 2, 3]}]}, 400,
     "8 numbers"),
    ({"inputs": [{"name": "x", "shape": [1, 4], "datatype": "BYTES", "data": ["a"] * 4}]}, 400,
     "numeric"),
    ({"inputs": [{"name": "sepal length (cm)", "shape": [1], "datatype": "FP64",
                  "data": [1.0]}]}, 400, "missing input"),
    ({"inputs": [{"name": "x", "shape": [5000, 4], "datatype": "FP64", "data": []}]}, 413,
     "limit"),
    # found by fuzzing: a tensor without "data" (it crashed the decoder)
    ({"inputs": [{"name": "x", "shape": [1, 4], "datatype": "FP64"}]}, 400, "4 numbers"),
    ({"inputs": [{"name": n, "shape": [1], "datatype": "FP64"} for n in (
        "sepal length (cm)", "sepal width (cm)", "petal length (cm)", "petal width (cm)")]},
     400, "data must hold 1 numbers"),
])
def test_v2_infer_refusals(iris, body, status, needle):
    r = requests.post(iris.url + "/v2/models/iris/infer", json=body)
    assert r.status_code == status, r.text
    assert needle in r.json()["error"], r.json()


def test_v2_unknown_model_and_wrong_method(iris):
    r = requests.get(iris.url + "/v2/models/other")
    assert r.status_code == 404 and "other" in r.json()["error"]
    assert requests.get(iris.url + "/v2/models/iris/infer").status_code == 405
    assert requests.post(iris.url + "/v2/models/iris/versions/7/infer", json={}).status_code == 404
    assert requests.post(iris.url + "/v2/health/live").status_code == 405


# ---- limits and hostile input ----

def test_row_limit_is_a_clear_413(iris):
    cols, rows, _, _ = golden_rows(IRIS)
    r = invoke(iris, {"dataframe_split": {"columns": cols, "data": rows * 60}})  # 1200 rows
    assert r.status_code == 413, r.text
    assert "1000 rows" in r.json()["message"]
    # exactly at the limit is fine
    r = invoke(iris, {"dataframe_split": {"columns": cols, "data": (rows * 50)[:1000]}})
    assert r.status_code == 200 and len(r.json()["predictions"]) == 1000


def test_body_limit_is_a_413_and_the_server_stays_up(iris):
    big = b'{"dataframe_split": {"columns": [], "data": [' + b"[1.0]," * (1 << 20) + b"[1.0]]}}"
    r = requests.post(iris.url + "/invocations", data=big,
                      headers={"Content-Type": "application/json"})
    assert r.status_code == 413
    assert requests.get(iris.url + "/ping").status_code == 200


def test_million_row_csv_is_refused_not_scored(breast):
    cols, rows, _, _ = golden_rows(BREAST)
    line = ",".join(str(v) for v in rows[0]) + "\n"
    body = ",".join(cols) + "\n" + line * 1_000_001
    r = invoke(breast, body, "text/csv")
    # 1,000,000 rows is the default ceiling (a 413 either way: body or rows)
    assert r.status_code == 413, r.text[:300]
    assert requests.get(breast.url + "/ping").status_code == 200


@pytest.mark.parametrize("body, ctype, status, code", [
    ("", "text/csv", 400, "BAD_REQUEST"),
    ("\xff\xfe", "application/json", 400, "BAD_REQUEST"),
    ('{"dataframe_split": {"columns": ["a"], "data": [[{"x": 1}]]}}', "application/json", 400,
     "INVALID_PARAMETER_VALUE"),
    ('{"dataframe_records": {"a": 1}}', "application/json", 400, "BAD_REQUEST"),
    ('{"dataframe_split": [1, 2]}', "application/json", 400, "BAD_REQUEST"),
    ('{"inputs": 7}', "application/json", 400, "BAD_REQUEST"),
    ("7", "application/json", 400, "BAD_REQUEST"),
    ("[" * 100000, "application/json", 400, "BAD_REQUEST"),
    ('"a,b\n1,2,3\n', "text/csv", 400, "BAD_REQUEST"),
])
def test_malformed_input_gets_an_mlflow_error(iris, body, ctype, status, code):
    r = requests.post(iris.url + "/invocations", data=body.encode("latin-1"),
                      headers={"Content-Type": ctype}, timeout=30)
    assert r.status_code == status, r.text[:500]
    assert r.json()["error_code"] == code, r.text[:500]
    assert requests.get(iris.url + "/ping").status_code == 200


def test_csv_with_bom_crlf_quotes_and_na(iris):
    cols, rows, preds, _ = golden_rows(IRIS)
    header = ",".join(f'"{c}"' for c in cols)
    lines = [",".join(repr(v) for v in r) for r in rows]
    lines[0] = "NA," + lines[0].split(",", 1)[1]  # pandas' NA spelling -> NaN, as null
    body = "\ufeff" + header + "\r\n" + "\r\n".join(lines) + "\r\n"
    r = invoke(iris, body.encode(), "text/csv; charset=utf-8")
    assert r.status_code == 200, r.text
    null_row = json.loads(invoke(iris, {"dataframe_split": {
        "columns": cols, "data": [[None] + rows[0][1:]] + rows[1:]}}).text)
    assert r.json() == null_row
    assert r.json()["predictions"][1:] == preds[1:]


def test_nan_and_null_are_missing_values(breast):
    cols, rows, _, _ = golden_rows(BREAST)
    a = invoke(breast, {"dataframe_split": {"columns": cols, "data": [[None] * 30]}})
    b = invoke(breast, {"dataframe_records": [{}]})
    assert a.status_code == 200, a.text
    assert b.status_code == 400  # every column missing: MLflow's missing-inputs error
    assert "Model is missing inputs" in b.json()["message"]
    assert 0.0 < a.json()["predictions"][0] < 1.0


def test_infinite_input_is_a_model_error_with_its_reason(breast):
    cols, rows, _, _ = golden_rows(BREAST)
    # "inf" converts to float64 as pandas' astype does; the booster refuses it, as pyfunc's does
    r = invoke(breast, {"dataframe_split": {"columns": cols, "data": [["inf"] + rows[0][1:]]}})
    assert r.status_code == 400, r.text
    body = r.json()
    assert body["error_code"] == "BAD_REQUEST"
    assert body["message"].startswith("Encountered an unexpected error while evaluating")
    assert body["stack_trace"]


def test_slow_and_half_sent_requests_do_not_block_others(iris):
    cols, rows, preds, text = golden_rows(IRIS)
    host, port = iris.url.removeprefix("http://").split(":")
    stalled = []
    for _ in range(20):
        s = socket.create_connection((host, int(port)))
        s.sendall(b"POST /invocations HTTP/1.1\r\nHost: x\r\nContent-Type: text/csv\r\n"
                  b"Content-Length: 100000\r\n\r\nsepal")
        stalled.append(s)
    try:
        r = invoke(iris, text, "text/csv")
        assert r.status_code == 200 and r.json()["predictions"] == preds
    finally:
        for s in stalled:
            s.close()


def test_concurrent_clients_each_get_their_own_rows(breast):
    cols, rows, preds, _ = golden_rows(BREAST)

    def one(i):
        k = i % len(rows)
        r = invoke(breast, {"dataframe_split": {"columns": cols, "data": [rows[k]]}})
        return k, r.status_code, r.json()

    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        results = list(pool.map(one, range(800)))
    for k, status, body in results:
        assert status == 200, body
        assert body["predictions"] == [preds[k]]
    assert all(math.isfinite(p) for p in preds)
