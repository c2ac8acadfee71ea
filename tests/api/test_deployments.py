# Deployments inside `keel server`: created, read, listed, updated and deleted through
# /api/2.0/keel/deployments/..., answering MLflow's scoring protocol on
# /deployments/<name>/invocations and KServe v2 on /v2/models/<name>/..., with the model
# version that answered in X-Model-Version; refused URIs change nothing; deployments survive a
# restart; an update under load fails no request.
import concurrent.futures
import json
import threading

import requests

from conftest import FIXTURES, KeelServer, _shutdown, golden, ok

API = "/api/2.0/mlflow"
KEEL = "/api/2.0/keel/deployments"
ART = "/api/2.0/mlflow-artifacts/artifacts"
IRIS = FIXTURES / "models" / "xgb-classifier-iris"
BREAST = FIXTURES / "models" / "xgb-booster-binary"


def register(server, name, model_dir):
    """model_dir's files as a run's artifacts, registered as the next version of `name`."""
    exp = ok(requests.post(server.url + API + "/experiments/create",
                           json={"name": f"exp-{name}-{model_dir.name}"}))["experiment_id"]
    run = ok(requests.post(server.url + API + "/runs/create",
                           json={"experiment_id": exp}))["run"]["info"]
    for p in sorted(model_dir.iterdir()):
        ok(requests.put(f"{server.url}{ART}/{exp}/{run['run_id']}/artifacts/model/{p.name}",
                        data=p.read_bytes(), headers={"Content-Type": "application/octet-stream"}))
    requests.post(server.url + API + "/registered-models/create", json={"name": name})
    mv = ok(requests.post(server.url + API + "/model-versions/create", json={
        "name": name, "source": run["artifact_uri"] + "/model", "run_id": run["run_id"]}))
    return mv["model_version"]["version"]


def score(server, name, csv):
    return requests.post(f"{server.url}/deployments/{name}/invocations", data=csv,
                         headers={"Content-Type": "text/csv"}, timeout=30)


def test_deployment_lifecycle_and_scoring(keel):
    csv, preds = golden("xgb-classifier-iris")
    d = ok(requests.post(keel.url + KEEL + "/create",
                         json={"name": "iris", "model_uri": str(IRIS)}))["deployment"]
    assert d["name"] == "iris" and d["status"] == "READY" and d["flavor"] == "xgboost"
    r = score(keel, "iris", csv)
    assert r.status_code == 200 and r.json() == {"predictions": preds}
    assert r.headers["X-Deployment"] == "iris" and r.headers["X-Model-Version"] == "none"
    assert ok(requests.get(keel.url + KEEL + "/get", params={"name": "iris"}))[
        "deployment"]["model_uri"] == str(IRIS)
    assert [x["name"] for x in ok(requests.get(keel.url + KEEL + "/list"))["deployments"]] == \
        ["iris"]
    # the scoring protocol's other routes, and KServe v2 with the deployment as model name
    assert requests.get(f"{keel.url}/deployments/iris/ping").status_code == 200
    assert requests.get(f"{keel.url}/deployments/iris/invocations").status_code == 405
    rows = [[float(v) for v in line.split(",")] for line in csv.splitlines()[1:]]
    v2 = ok(requests.post(f"{keel.url}/v2/models/iris/infer", json={"inputs": [
        {"name": "x", "shape": [len(rows), 4], "datatype": "FP64", "data": rows}]}))
    assert v2["outputs"][0]["data"] == preds
    # a duplicate, a bad name, a URI that does not load: refused, nothing changes
    r = requests.post(keel.url + KEEL + "/create", json={"name": "iris", "model_uri": str(BREAST)})
    assert r.status_code == 400 and r.json()["error_code"] == "RESOURCE_ALREADY_EXISTS"
    r = requests.post(keel.url + KEEL + "/create", json={"name": "a b", "model_uri": str(IRIS)})
    assert r.status_code == 400 and "Invalid deployment name" in r.json()["message"]
    r = requests.post(keel.url + KEEL + "/create",
                      json={"name": "sk", "model_uri": str(FIXTURES / "models" / "sklearn-logreg-iris")})
    assert r.status_code == 400 and "sklearn" in r.json()["message"], r.text
    assert requests.get(keel.url + KEEL + "/get", params={"name": "sk"}).status_code == 404
    assert score(keel, "sk", csv).status_code == 404
    r = requests.post(keel.url + KEEL + "/update",
                      json={"name": "iris", "model_uri": str(FIXTURES / "models" / "nope")})
    assert r.status_code == 400
    assert score(keel, "iris", csv).json() == {"predictions": preds}  # still the old model
    # delete
    ok(requests.post(keel.url + KEEL + "/delete", json={"name": "iris"}))
    r = score(keel, "iris", csv)
    assert r.status_code == 404 and r.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"
    assert requests.post(keel.url + KEEL + "/delete", json={"name": "iris"}).status_code == 404


def test_registered_alias_deployment_survives_a_restart(tmp_path):
    server = KeelServer(tmp_path).start()
    try:
        csv, preds = golden("xgb-classifier-iris")
        version = register(server, "churn", IRIS)
        ok(requests.post(server.url + API + "/registered-models/alias",
                         json={"name": "churn", "alias": "champion", "version": version}))
        d = ok(requests.post(server.url + KEEL + "/create",
                             json={"name": "churn", "model_uri": "models:/churn@champion"}))
        assert d["deployment"]["model_name"] == "churn"
        assert d["deployment"]["model_version"] == version
        r = score(server, "churn", csv)
        assert r.json() == {"predictions": preds} and r.headers["X-Model-Version"] == version
        server.restart().wait_ready()  # deployments load after the server answers
        r = score(server, "churn", csv)
        assert r.status_code == 200, r.text
        assert r.json() == {"predictions": preds} and r.headers["X-Model-Version"] == version
    finally:
        _shutdown([server])


def test_update_under_load_fails_no_request(tmp_path):
    server = KeelServer(tmp_path).start()
    try:
        csv_b, preds_b = golden("xgb-booster-binary")
        v1 = register(server, "bc", BREAST)
        v2 = register(server, "bc", FIXTURES / "models" / "xgb-booster-binary-json")
        ok(requests.post(server.url + KEEL + "/create",
                         json={"name": "bc", "model_uri": f"models:/bc/{v1}"}))
        stop = threading.Event()
        seen, failures = set(), []

        def load():
            s = requests.Session()
            while not stop.is_set():
                r = s.post(f"{server.url}/deployments/bc/invocations", data=csv_b,
                           headers={"Content-Type": "text/csv"}, timeout=30)
                if r.status_code != 200 or r.json()["predictions"] != preds_b:
                    failures.append((r.status_code, r.text[:200]))
                seen.add(r.headers.get("X-Model-Version"))

        with concurrent.futures.ThreadPoolExecutor(4) as pool:
            futures = [pool.submit(load) for _ in range(4)]
            try:  # a failed update must stop the load, or leaving the pool waits forever
                for i in range(6):
                    ok(requests.post(server.url + KEEL + "/update",
                                     json={"name": "bc",
                                           "model_uri": f"models:/bc/{(v1, v2)[i % 2]}"}))
            finally:
                stop.set()
            for f in futures:
                f.result()
        assert not failures, failures[:3]
        assert seen == {v1, v2}
    finally:
        _shutdown([server])


def test_alias_moves_twenty_times_under_load_with_no_failed_request(tmp_path):
    import time
    server = KeelServer(tmp_path, "--deployment-poll-ms", "100").start()
    try:
        csv_b, preds_b = golden("xgb-booster-binary")
        versions = [register(server, "fraud", FIXTURES / "models" / m)
                    for m in ("xgb-booster-binary", "xgb-booster-binary-json",
                              "xgb-booster-binary-ubj")]
        alias = {"name": "fraud", "alias": "champion"}
        ok(requests.post(server.url + API + "/registered-models/alias",
                         json={**alias, "version": versions[0]}))
        ok(requests.post(server.url + KEEL + "/create",
                         json={"name": "fraud", "model_uri": "models:/fraud@champion"}))
        stop = threading.Event()
        seen, failures, answered = set(), [], [0]

        def load():
            s = requests.Session()
            while not stop.is_set():
                r = s.post(f"{server.url}/deployments/fraud/invocations", data=csv_b,
                           headers={"Content-Type": "text/csv"}, timeout=30)
                if r.status_code != 200 or r.json()["predictions"] != preds_b:
                    failures.append((r.status_code, r.text[:200]))
                seen.add(r.headers.get("X-Model-Version"))
                answered[0] += 1

        def served():
            return score(server, "fraud", csv_b).headers["X-Model-Version"]

        with concurrent.futures.ThreadPoolExecutor(3) as pool:
            futures = [pool.submit(load) for _ in range(3)]
            try:  # a failed move must stop the load, or leaving the pool waits forever
                for i in range(1, 21):
                    target = versions[i % len(versions)]
                    ok(requests.post(server.url + API + "/registered-models/alias",
                                     json={**alias, "version": target}))
                    deadline = time.monotonic() + 10
                    while served() != target:
                        assert time.monotonic() < deadline, f"move {i} to {target} not followed"
                        time.sleep(0.02)
            finally:
                stop.set()
            for f in futures:
                f.result()
        assert not failures, failures[:3]
        assert seen == set(versions) and answered[0] > 20
        d = ok(requests.get(server.url + KEEL + "/get", params={"name": "fraud"}))["deployment"]
        assert d["model_version"] == versions[20 % len(versions)] and d["status"] == "READY"
    finally:
        _shutdown([server])


def move_to_a_version_that_fails(server, good, bad):
    """Deploys models:/m@prod with prod on `good`, moves prod to `bad`, which does not load,
    and returns the deployment once it says so."""
    import time
    alias = {"name": "m", "alias": "prod"}
    ok(requests.post(server.url + API + "/registered-models/alias",
                     json={**alias, "version": good}))
    ok(requests.post(server.url + KEEL + "/create",
                     json={"name": "m", "model_uri": "models:/m@prod"}))
    ok(requests.post(server.url + API + "/registered-models/alias",
                     json={**alias, "version": bad}))
    deadline = time.monotonic() + 10
    while True:
        d = ok(requests.get(server.url + KEEL + "/get", params={"name": "m"}))["deployment"]
        if d.get("error"):
            return d
        assert time.monotonic() < deadline, d
        time.sleep(0.05)


def test_a_version_that_does_not_load_never_replaces_a_working_one(tmp_path):
    import time
    server = KeelServer(tmp_path, "--deployment-poll-ms", "100").start()
    try:
        csv, preds = golden("xgb-classifier-iris")
        good = register(server, "m", IRIS)
        bad = register(server, "m", FIXTURES / "models" / "sklearn-logreg-iris")
        d = move_to_a_version_that_fails(server, good, bad)
        assert "sklearn" in d["error"] and d["model_version"] == good and d["status"] == "READY"
        r = score(server, "m", csv)
        assert r.json() == {"predictions": preds} and r.headers["X-Model-Version"] == good
    finally:
        _shutdown([server])


def test_the_deployments_command(keel):
    import subprocess
    from conftest import KEEL_BIN

    def run(*args):
        return subprocess.run([KEEL_BIN, "deployments", *args, "--tracking-uri", keel.url],
                              capture_output=True, text=True, timeout=60)

    r = run("create", "--name", "cli", "--model-uri", str(IRIS))
    assert r.returncode == 0 and json.loads(r.stdout)["deployment"]["status"] == "READY", r.stderr
    r = run("update", "--name", "cli", "--model-uri", str(BREAST), "--max-batch-rows", "64",
            "--max-batch-wait-us", "2000")
    assert r.returncode == 0, r.stderr
    got = json.loads(run("get", "--name", "cli").stdout)["deployment"]
    assert got["model_uri"] == str(BREAST)
    assert got["max_batch_rows"] == 64 and got["max_batch_wait_us"] == 2000
    r = run("update", "--name", "cli", "--model-uri", str(BREAST), "--max-batch-rows", "lots")
    assert r.returncode == 2 and "--max-batch-rows" in r.stderr
    assert [d["name"] for d in json.loads(run("list").stdout)["deployments"]] == ["cli"]
    r = run("create", "--name", "cli", "--model-uri", str(IRIS))
    assert r.returncode == 1 and "already exists" in r.stderr
    assert run("delete", "--name", "cli").returncode == 0
    r = run("get", "--name", "cli")
    assert r.returncode == 1 and "does not exist" in r.stderr
    r = subprocess.run([KEEL_BIN, "deployments", "list", "--tracking-uri",
                        "http://127.0.0.1:9"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 1 and "cannot reach" in r.stderr.lower()


def query(server, **params):
    return ok(requests.get(server.url + "/api/2.0/keel/predictions", params=params))[
        "predictions"]


def test_every_answered_request_is_in_the_prediction_log(tmp_path):
    import gzip
    import time
    server = KeelServer(tmp_path).start()
    try:
        csv, preds = golden("xgb-classifier-iris")
        ok(requests.post(server.url + KEEL + "/create",
                         json={"name": "iris", "model_uri": str(IRIS)}))
        ids = []
        for i in range(5):
            r = score(server, "iris", csv)
            assert r.status_code == 200
            ids.append(r.headers["X-Request-Id"])
        bad = requests.post(f"{server.url}/deployments/iris/invocations", data="x,y\n1,2\n",
                            headers={"Content-Type": "text/csv"})
        assert bad.status_code == 400
        ids.append(bad.headers["X-Request-Id"])
        assert len(set(ids)) == 6
        deadline = time.monotonic() + 10
        while len(query(server, deployment="iris")) < 6:  # best-effort: written shortly after
            assert time.monotonic() < deadline
            time.sleep(0.05)
        records = query(server, deployment="iris")
        assert [r["request_id"] for r in records] == ids
        first = records[0]
        assert first["deployment"] == "iris" and first["status"] == 200 and first["error"] is None
        assert first["outputs"] == preds and len(first["inputs"]["data"]) == len(preds)
        assert first["inputs"]["columns"][0] == "sepal length (cm)"
        assert first["latency_ms"] > 0 and first["model_uri"] == str(IRIS)
        assert records[-1]["status"] == 400 and "missing inputs" in records[-1]["error"]
        assert [r["request_id"] for r in query(server, request_id=ids[2])] == [ids[2]]
        # the newest first, as far as asked
        newest = query(server, deployment="iris", order="desc", max_results=4)
        assert [r["request_id"] for r in newest] == ids[::-1][:4]
        r = requests.get(server.url + "/api/2.0/keel/predictions",
                         params={"deployment": "iris", "order": "sideways"})
        assert r.status_code == 400 and "order" in r.json()["message"]
        import subprocess
        from conftest import KEEL_BIN
        cli = subprocess.run([KEEL_BIN, "predictions", "query", "--deployment", "iris",
                              "--tracking-uri", server.url], capture_output=True, text=True,
                             timeout=60)
        assert cli.returncode == 0, cli.stderr
        assert [json.loads(x)["request_id"] for x in cli.stdout.splitlines()] == ids
        cli = subprocess.run([KEEL_BIN, "predictions", "query", "--deployment", "iris",
                              "--order", "desc", "--max-results", "2", "--tracking-uri",
                              server.url], capture_output=True, text=True, timeout=60)
        assert [json.loads(x)["request_id"] for x in cli.stdout.splitlines()] == ids[:-3:-1]
        assert query(server, deployment="other") == []
        assert query(server, end_time=1) == []
        # the files are gzip'd JSON lines in deployment=/date= partitions
        parts = sorted((tmp_path / "data" / "predictions").glob(
            "deployment=iris/date=*/part-*.jsonl.gz"))
        assert parts, list(tmp_path.rglob("*"))
        lines = [json.loads(x) for p in parts for x in gzip.open(p, "rt")]
        assert [x["request_id"] for x in lines] == ids
    finally:
        _shutdown([server])


def test_logged_inputs_are_the_numbers_as_sent(tmp_path):
    """A JSON number goes into the record as the client wrote it (it is the value the
    model was given); a value converted on the way (a string) is printed from what
    the model was given. Both read back as the values scored."""
    import gzip
    server = KeelServer(tmp_path).start()
    try:
        ok(requests.post(server.url + KEEL + "/create",
                         json={"name": "iris", "model_uri": str(IRIS),
                               "prediction_log": "required"}))
        body = ('{"dataframe_split": {"columns": ["petal width (cm)", "sepal length (cm)", '
                '"sepal width (cm)", "petal length (cm)"], '
                '"data": [[0.20, 5.1e0, "3.50", 1.4], [1.8E+0, 6.3, 3, -0.0], '
                '[null, 1, 2, 3]]}}')
        r = requests.post(f"{server.url}/deployments/iris/invocations", data=body,
                          headers={"Content-Type": "application/json"})
        assert r.status_code == 200, r.text
        same = requests.post(f"{server.url}/deployments/iris/invocations", json={
            "dataframe_split": {"columns": ["sepal length (cm)", "sepal width (cm)",
                                            "petal length (cm)", "petal width (cm)"],
                                "data": [[5.1, 3.5, 1.4, 0.2], [6.3, 3.0, -0.0, 1.8],
                                         [1, 2, 3, None]]}})
        assert r.json() == same.json()
        parts = sorted((tmp_path / "data" / "predictions").glob("deployment=iris/date=*/*.gz"))
        lines = [x for p in parts for x in gzip.open(p, "rt")]
        first = [x for x in lines if r.headers["X-Request-Id"] in x]
        assert len(first) == 1
        # signature order; the string "3.50" became 3.5 and is printed as such, a
        # missing value is null
        assert ('"data":[[5.1e0,3.5,1.4,0.20],[6.3,3,-0.0,1.8E+0],[1,2,3,null]]'
                in first[0]), first[0]
        assert json.loads(first[0])["inputs"]["data"] == [[5.1, 3.5, 1.4, 0.2],
                                                         [6.3, 3.0, -0.0, 1.8],
                                                         [1, 2, 3, None]]
    finally:
        _shutdown([server])


def test_required_log_survives_kill_9(tmp_path):
    server = KeelServer(tmp_path).start()
    try:
        csv, _ = golden("xgb-classifier-iris")
        ok(requests.post(server.url + KEEL + "/create", json={
            "name": "iris", "model_uri": str(IRIS), "prediction_log": "required"}))
        ids = [score(server, "iris", csv).headers["X-Request-Id"] for _ in range(30)]
        server.kill9()
        server.start()
        assert sorted(r["request_id"] for r in query(server, deployment="iris")) == sorted(ids)
        d = ok(requests.get(server.url + KEEL + "/get", params={"name": "iris"}))["deployment"]
        assert d["prediction_log"] == "required"
    finally:
        _shutdown([server])


def test_prediction_log_off_and_bad_mode(keel):
    csv, _ = golden("xgb-classifier-iris")
    r = requests.post(keel.url + KEEL + "/create", json={
        "name": "quiet", "model_uri": str(IRIS), "prediction_log": "sometimes"})
    assert r.status_code == 400 and "prediction_log" in r.json()["message"]
    ok(requests.post(keel.url + KEEL + "/create", json={
        "name": "quiet", "model_uri": str(IRIS), "prediction_log": "off"}))
    assert score(keel, "quiet", csv).status_code == 200
    assert query(keel, deployment="quiet") == []


def test_prediction_queries_out_of_range_are_refused(keel):
    for params in ({"max_results": 0}, {"max_results": 100001}, {"start_time": -1},
                   {"end_time": -9223372036854775808}, {"end_time": 253402300800000}):
        r = requests.get(keel.url + "/api/2.0/keel/predictions", params=params, timeout=30)
        assert r.status_code == 400, (params, r.text)
        assert r.json()["error_code"] == "INVALID_PARAMETER_VALUE"
    r = requests.get(keel.url + "/api/2.0/keel/predictions",
                     params={"end_time": 253402300799999, "max_results": 1}, timeout=30)
    assert r.status_code == 200 and r.json() == {"predictions": []}


def test_metrics_in_prometheus_text_format(keel):
    csv, _ = golden("xgb-classifier-iris")
    ok(requests.post(keel.url + KEEL + "/create", json={"name": "m1", "model_uri": str(IRIS)}))
    for _ in range(3):
        assert score(keel, "m1", csv).status_code == 200
    assert requests.post(f"{keel.url}/deployments/m1/invocations", data="a\n1\n",
                         headers={"Content-Type": "text/csv"}).status_code == 400
    r = requests.get(keel.url + "/metrics")
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("text/plain")
    lines = r.text.splitlines()
    assert 'keel_deployment_requests_total{deployment="m1",code="2xx"} 3' in lines
    assert 'keel_deployment_requests_total{deployment="m1",code="4xx"} 1' in lines
    assert 'keel_deployment_request_duration_seconds_count{deployment="m1"} 4' in lines
    assert 'keel_deployment_request_duration_seconds_bucket{deployment="m1",le="+Inf"} 4' in lines
    assert any(x.startswith('keel_deployment_model_info{deployment="m1"') and
               x.endswith('status="READY"} 1') for x in lines)
    assert any(x.startswith('keel_prediction_log_records_total{outcome="dropped"}') for x in lines)
    # the 400 never reached the model: 3 model calls, their time apart from decoding
    assert 'keel_deployment_model_seconds_count{deployment="m1"} 3' in lines
    model_s = float(next(x for x in lines if x.startswith(
        'keel_deployment_model_seconds_sum{deployment="m1"}')).rsplit(" ", 1)[1])
    total_s = float(next(x for x in lines if x.startswith(
        'keel_deployment_request_duration_seconds_sum{deployment="m1"}')).rsplit(" ", 1)[1])
    assert 0 < model_s < total_s
    # every sample line is "name{labels} value" with a number
    for x in lines:
        if not x.startswith("#"):
            float(x.rsplit(" ", 1)[1])


def test_server_side_batching_gives_each_request_its_own_rows(keel):
    csv, preds = golden("xgb-booster-binary")
    header, *rows = csv.splitlines()
    d = ok(requests.post(keel.url + KEEL + "/create", json={
        "name": "batched", "model_uri": str(BREAST), "max_batch_rows": 64,
        "max_batch_wait_us": 20000}))["deployment"]
    assert d["max_batch_rows"] == 64 and d["max_batch_wait_us"] == 20000

    def one(i):
        k = i % len(rows)
        body = header + "\n" + rows[k] + "\n" + (rows[(k + 1) % len(rows)] + "\n" if i % 3 == 0 else "")
        r = requests.post(f"{keel.url}/deployments/batched/invocations", data=body,
                          headers={"Content-Type": "text/csv"}, timeout=30)
        want = [preds[k]] + ([preds[(k + 1) % len(rows)]] if i % 3 == 0 else [])
        return r.status_code, r.json(), want

    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        results = list(pool.map(one, range(400)))
    for status, body, want in results:
        assert status == 200 and body == {"predictions": want}, (body, want)
    metrics = requests.get(keel.url + "/metrics").text.splitlines()

    def sample(prefix):
        return int(next(x for x in metrics if x.startswith(prefix)).rsplit(" ", 1)[1])

    batches = sample('keel_deployment_batch_rows_count{deployment="batched"}')
    batched = sample('keel_deployment_batch_rows_sum{deployment="batched"}')
    assert batched == 400 + len(range(0, 400, 3))  # every row went through a batch
    assert batches < 400  # and requests shared them
    # the batch-size histogram: cumulative, ending at the count; no batch
    # holds more than max_batch_rows (64), and some held more than one row
    les = ("1", "2", "4", "8", "16", "32", "64", "128", "+Inf")
    buckets = [sample(f'keel_deployment_batch_rows_bucket{{deployment="batched",le="{le}"}}')
               for le in les]
    assert buckets == sorted(buckets) and buckets[-1] == batches
    assert buckets[les.index("64")] == batches and buckets[0] < batches
    # turned off again by an update: requests are scored on their own
    ok(requests.post(keel.url + KEEL + "/update", json={
        "name": "batched", "model_uri": str(BREAST), "max_batch_rows": 0}))
    assert one(1)[1] == {"predictions": [preds[1]]}


def test_prediction_log_segments_roll_by_age(tmp_path):
    """A segment older than --prediction-log-segment-seconds is closed and the
    next record starts a new one; every segment stays a whole gzip file."""
    import gzip
    import time
    server = KeelServer(tmp_path, "--prediction-log-segment-seconds", "1").start()
    try:
        csv, _ = golden("xgb-classifier-iris")
        ok(requests.post(server.url + KEEL + "/create", json={
            "name": "iris", "model_uri": str(IRIS), "prediction_log": "required"}))
        part_glob = "date=*/part-*.jsonl.gz"
        where = tmp_path / "data" / "predictions" / "deployment=iris"
        first = [score(server, "iris", csv).headers["X-Request-Id"] for _ in range(3)]
        assert len(list(where.glob(part_glob))) == 1  # young: one segment
        time.sleep(1.2)
        second = [score(server, "iris", csv).headers["X-Request-Id"] for _ in range(3)]
        parts = sorted(where.glob(part_glob))
        assert len(parts) == 2, parts
        seen = [[json.loads(line)["request_id"] for line in gzip.open(p, "rt")] for p in parts]
        assert sorted(seen) == sorted([first, second])
    finally:
        _shutdown([server])


def test_prediction_log_segments_roll_and_old_partitions_go(tmp_path):
    import time
    old = tmp_path / "data" / "predictions" / "deployment=iris" / "date=2000-01-01"
    old.mkdir(parents=True)
    (old / "part-1-000000.jsonl.gz").write_bytes(b"")
    server = KeelServer(tmp_path, "--prediction-log-retention-days", "30",
                        "--prediction-log-segment-bytes", "1024").start()
    try:
        csv, _ = golden("xgb-classifier-iris")
        ok(requests.post(server.url + KEEL + "/create", json={
            "name": "iris", "model_uri": str(IRIS), "prediction_log": "required"}))
        ids = [score(server, "iris", csv).headers["X-Request-Id"] for _ in range(12)]
        parts = sorted((tmp_path / "data" / "predictions" / "deployment=iris").glob(
            "date=*/part-*.jsonl.gz"))
        assert len(parts) > 2, parts  # each record is ~1 KiB compressed to less; rolled anyway
        deadline = time.monotonic() + 10
        while old.exists():
            assert time.monotonic() < deadline, "the 2000-01-01 partition was kept"
            time.sleep(0.05)
        assert [r["request_id"] for r in query(server, deployment="iris")] == ids
    finally:
        _shutdown([server])


def test_readiness_follows_the_start_liveness_does_not(keel):
    assert requests.get(keel.url + "/health").status_code == 200
    assert requests.get(keel.url + "/ready").status_code == 200


def test_not_ready_while_deployments_load_at_start(tmp_path):
    """/ready answers 503 until every stored deployment has been loaded (or
    has failed to); /health answers 200 throughout. The load is held up for
    real: the model's file becomes a FIFO, and opening a FIFO blocks until
    someone opens its other end."""
    import os
    import shutil
    import time
    model = tmp_path / "model"
    shutil.copytree(BREAST, model)
    server = KeelServer(tmp_path).start()
    try:
        ok(requests.post(server.url + KEEL + "/create",
                         json={"name": "held", "model_uri": str(model)}))
        server.stop()
        (model / "model.xgb").unlink()
        os.mkfifo(model / "model.xgb")
        server.start()
        for _ in range(5):
            assert requests.get(server.url + "/ready").status_code == 503
            assert requests.get(server.url + "/health").status_code == 200
            time.sleep(0.05)
        with open(model / "model.xgb", "wb"):  # lets the load go on
            pass
        deadline = time.monotonic() + 10
        while requests.get(server.url + "/ready").status_code != 200:
            assert time.monotonic() < deadline, "never became ready"
            time.sleep(0.05)
        # the load itself failed (a FIFO is no model file): ready all the
        # same, and the failure shows in the deployment's state
        d = ok(requests.get(server.url + KEEL + "/get", params={"name": "held"}))["deployment"]
        assert d["status"] == "FAILED" and "not a regular file" in d["error"]
    finally:
        _shutdown([server])


def test_sigterm_lets_the_request_in_flight_finish(tmp_path):
    import signal
    import time
    server = KeelServer(tmp_path).start()
    try:
        csv, preds = golden("xgb-booster-binary")
        header, *rows = csv.splitlines()
        ok(requests.post(server.url + KEEL + "/create", json={
            "name": "bc", "model_uri": str(BREAST), "prediction_log": "required"}))
        body = header + "\n" + "\n".join(rows * 5000) + "\n"  # 100,000 rows: seconds of work
        result = {}

        def big():
            r = requests.post(f"{server.url}/deployments/bc/invocations", data=body,
                              headers={"Content-Type": "text/csv"}, timeout=120)
            result["status"], result["n"] = r.status_code, len(r.json()["predictions"])
            result["id"] = r.headers["X-Request-Id"]

        t = threading.Thread(target=big)
        t.start()
        time.sleep(0.3)
        server.proc.send_signal(signal.SIGTERM)
        t.join()
        assert server.proc.wait(timeout=60) == 0
        assert result.get("status") == 200 and result["n"] == len(rows) * 5000, result
        server.start()  # and its record was kept
        assert [r["request_id"] for r in query(server, deployment="bc", max_results=5)] == \
            [result["id"]]
    finally:
        _shutdown([server])


def test_access_log_is_one_json_line_per_request(tmp_path):
    server = KeelServer(tmp_path, "--access-log").start()
    try:
        csv, _ = golden("xgb-classifier-iris")
        ok(requests.post(server.url + KEEL + "/create", json={"name": "iris",
                                                               "model_uri": str(IRIS)}))
        rid = score(server, "iris", csv).headers["X-Request-Id"]
        assert requests.get(server.url + "/nope").status_code == 404
    finally:
        _shutdown([server])
    lines = [json.loads(x) for x in server.stderr().splitlines() if x.startswith("{")]
    scored = [x for x in lines if x.get("request_id") == rid]
    assert len(scored) == 1, lines
    x = scored[0]
    assert x["event"] == "request" and x["method"] == "POST" and x["status"] == 200
    assert x["path"] == "/deployments/iris/invocations" and x["deployment"] == "iris"
    assert x["duration_ms"] > 0 and x["time"].endswith("Z") and x["level"] == "info"
    assert any(y["path"] == "/nope" and y["status"] == 404 and y["level"] == "warn"
               for y in lines)


def test_access_log_has_early_answers_and_cuts_long_lines_visibly(tmp_path):
    server = KeelServer(tmp_path, "--access-log", "--max-body-bytes", "1000").start()
    long_path = "/x" + "y" * 20000  # escaped and all, past the 16 KiB a line may hold
    try:
        # refused before the handler runs: the body passes --max-body-bytes
        r = requests.post(server.url + "/api/2.0/mlflow/runs/create", data=b"{" + b" " * 5000)
        assert r.status_code == 413
        assert requests.get(server.url + long_path).status_code == 404
    finally:
        _shutdown([server])
    lines = [json.loads(x) for x in server.stderr().splitlines() if x.startswith("{")]
    early = [x for x in lines if x["path"] == "/api/2.0/mlflow/runs/create"]
    assert len(early) == 1 and early[0]["status"] == 413 and early[0]["level"] == "warn", lines
    cut = [x for x in lines if x["path"].startswith("/xyyy")]
    assert len(cut) == 1, [x["path"][:40] for x in lines]
    assert cut[0]["truncated"] is True and cut[0]["status"] == 404
    assert cut[0]["path"].endswith("...[cut]") and len(cut[0]["path"]) < 1000
    assert long_path.startswith(cut[0]["path"][:-len("...[cut]")])
    assert not any(x.get("truncated") for x in lines if x is not cut[0])


def test_concurrent_changes_of_one_deployment_do_not_undo_each_other(tmp_path):
    server = KeelServer(tmp_path, "--deployment-poll-ms", "50").start()
    try:
        # two creates of one name at once: one wins, and what it made serves
        def create(_):
            return requests.post(server.url + KEEL + "/create", timeout=60,
                                 json={"name": "twin", "model_uri": str(IRIS)}).status_code
        with concurrent.futures.ThreadPoolExecutor(2) as pool:
            codes = sorted(pool.map(create, range(2)))
        assert codes == [200, 400], codes
        csv, _ = golden("xgb-classifier-iris")
        assert score(server, "twin", csv).status_code == 200
        # an update of a following deployment to a pinned version is not undone by the
        # follower when the alias moves
        v1 = register(server, "m", IRIS)
        v2 = register(server, "m", BREAST)
        ok(requests.post(server.url + API + "/registered-models/alias",
                         json={"name": "m", "alias": "live", "version": v1}))
        ok(requests.post(server.url + KEEL + "/create",
                         json={"name": "follows", "model_uri": "models:/m@live"}))
        ok(requests.post(server.url + KEEL + "/update",
                         json={"name": "follows", "model_uri": f"models:/m/{v1}"}))
        ok(requests.post(server.url + API + "/registered-models/alias",
                         json={"name": "m", "alias": "live", "version": v2}))
        import time
        time.sleep(0.5)  # ten polls
        r = score(server, "follows", csv)
        assert r.status_code == 200 and r.headers["X-Model-Version"] == v1
        # a deleted deployment stays deleted while the follower polls
        ok(requests.post(server.url + KEEL + "/create",
                         json={"name": "gone", "model_uri": "models:/m@live"}))
        ok(requests.post(server.url + KEEL + "/delete", json={"name": "gone"}))
        time.sleep(0.5)
        assert score(server, "gone", csv).status_code == 404
    finally:
        _shutdown([server])


def test_a_version_that_failed_to_load_is_tried_again_later(tmp_path):
    import time
    # polls every 100 ms: a failed version is tried again after 30 polls (3 s), not at
    # every poll, and loads once what it needs is there
    server = KeelServer(tmp_path / "keel", "--deployment-poll-ms", "100").start()
    try:
        csv, preds = golden("xgb-classifier-iris")
        good = register(server, "m", IRIS)
        # version 2's files are not there yet
        exp = ok(requests.post(server.url + API + "/experiments/create",
                               json={"name": "later"}))["experiment_id"]
        run = ok(requests.post(server.url + API + "/runs/create",
                               json={"experiment_id": exp}))["run"]["info"]
        ok(requests.post(server.url + API + "/model-versions/create", json={
            "name": "m", "source": run["artifact_uri"] + "/model", "run_id": run["run_id"]}))
        move_to_a_version_that_fails(server, good, "2")
        failed_at = time.monotonic()
        time.sleep(1.0)  # ten polls: none of them tries the failed version again
        for p in sorted(IRIS.iterdir()):
            ok(requests.put(f"{server.url}{ART}/{exp}/{run['run_id']}/artifacts/model/{p.name}",
                            data=p.read_bytes(),
                            headers={"Content-Type": "application/octet-stream"}))
        deadline = time.monotonic() + 30
        while True:
            r = score(server, "m", csv)
            assert r.status_code == 200 and r.json() == {"predictions": preds}
            if r.headers["X-Model-Version"] == "2":
                break
            assert time.monotonic() < deadline, "the failed version was never tried again"
            time.sleep(0.1)
        assert time.monotonic() - failed_at >= 2.5  # not before its delay
        assert server.stderr().count("version 2 of models:/m@prod did not load") == 1
    finally:
        _shutdown([server])
