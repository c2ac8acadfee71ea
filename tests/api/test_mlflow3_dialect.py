"""keel started with --mlflow-api 3 answers shared endpoints as MLflow 3 does
(decision 0009), and the default server keeps MLflow 2's answers."""

API = "/api/2.0/mlflow"


def _run(s):
    r = s.api("POST", f"{API}/runs/create", json={"experiment_id": "0"})
    assert r.status_code == 200, r.text
    return r.json()["run"]


def _model(s, run_id):
    r = s.api("POST", f"{API}/logged-models", json={"experiment_id": "0", "source_run_id": run_id})
    assert r.status_code == 200, r.text
    return r.json()["model"]["info"]["model_id"]


def test_metric_history_pages_walk_the_whole_history(start_keel, tmp_path):
    s = start_keel(tmp_path, "--mlflow-api", "3")
    run = _run(s)["info"]["run_id"]
    metrics = [{"key": "loss", "value": i / 10, "timestamp": 1000 + i, "step": i} for i in range(7)]
    assert s.api("POST", f"{API}/runs/log-batch", json={"run_id": run, "metrics": metrics}).status_code == 200
    seen, token, pages = [], None, 0
    while True:
        params = {"run_id": run, "metric_key": "loss", "max_results": 3}
        if token:
            params["page_token"] = token
        body = s.api("GET", f"{API}/metrics/get-history", params=params).json()
        seen += [m["step"] for m in body.get("metrics", [])]
        pages += 1
        token = body.get("next_page_token")
        if not token:
            break
    assert sorted(seen) == list(range(7)) and pages == 3
    # no max_results: an empty page that points at the start
    body = s.api("GET", f"{API}/metrics/get-history", params={"run_id": run, "metric_key": "loss"}).json()
    assert "metrics" not in body and body["next_page_token"]
    bad = s.api("GET", f"{API}/metrics/get-history",
                params={"run_id": run, "metric_key": "loss", "max_results": 3, "page_token": "%%%"})
    assert bad.status_code == 400 and "Invalid page token" in bad.json()["message"]


def test_default_server_returns_the_whole_history_and_2x_run_shapes(keel):
    run = _run(keel)
    assert "inputs" not in run and "outputs" not in run
    run_id = run["info"]["run_id"]
    metrics = [{"key": "loss", "value": 1.0, "timestamp": 1, "step": i} for i in range(4)]
    keel.api("POST", f"{API}/runs/log-batch", json={"run_id": run_id, "metrics": metrics})
    body = keel.api("GET", f"{API}/metrics/get-history",
                    params={"run_id": run_id, "metric_key": "loss", "max_results": 1}).json()
    assert len(body["metrics"]) == 4 and "next_page_token" not in body
    got = keel.api("GET", f"{API}/runs/get", params={"run_id": run_id}).json()["run"]
    assert "outputs" not in got
    err = keel.api("GET", f"{API}/runs/get", params={"run_id": "f" * 32}).json()
    assert set(err) == {"error_code", "message"}


def test_model_inputs_and_outputs_shown_and_checked(start_keel, tmp_path):
    s = start_keel(tmp_path, "--mlflow-api", "3")
    run = _run(s)
    assert run["inputs"] == {} and "outputs" not in run
    run_id = run["info"]["run_id"]
    m1, m2 = _model(s, run_id), _model(s, run_id)
    out = [{"model_id": m2, "step": 5}, {"model_id": m1, "step": 0}]
    assert s.api("POST", f"{API}/runs/outputs", json={"run_id": run_id, "models": out}).status_code == 200
    assert s.api("POST", f"{API}/runs/log-inputs",
                 json={"run_id": run_id, "models": [{"model_id": m1}]}).status_code == 200
    # an unknown model is refused, and nothing of the request is kept
    r = s.api("POST", f"{API}/runs/log-inputs",
              json={"run_id": run_id, "models": [{"model_id": m2}, {"model_id": "m-" + "0" * 32}]})
    assert r.status_code == 404 and r.json()["error_class"] == "RESOURCE_NOT_FOUND"
    got = s.api("GET", f"{API}/runs/get", params={"run_id": run_id}).json()["run"]
    assert got["inputs"] == {"model_inputs": [{"model_id": m1}]}
    assert got["outputs"] == {"model_outputs": sorted(out, key=lambda o: o["model_id"])}
    found = s.api("POST", f"{API}/runs/search", json={"experiment_ids": ["0"]}).json()["runs"][0]
    assert found["outputs"] == got["outputs"] and "model_inputs" not in found["inputs"]
    # a deleted run takes no outputs
    assert s.api("POST", f"{API}/runs/delete", json={"run_id": run_id}).status_code == 200
    r = s.api("POST", f"{API}/runs/outputs", json={"run_id": run_id, "models": [{"model_id": m1, "step": 1}]})
    assert r.status_code == 400 and "must be in the 'active' state" in r.json()["message"]


def test_mlflow_api_flag_is_checked(tmp_path):
    import subprocess
    from conftest import KEEL_BIN
    p = subprocess.run([KEEL_BIN, "server", "--mlflow-api", "4", "--data-dir", str(tmp_path)],
                       capture_output=True, text=True, timeout=10)
    assert p.returncode == 2 and "--mlflow-api" in p.stderr


def test_logged_model_search_pages_filters_and_tokens(keel):
    s = keel
    run = _run(s)["info"]["run_id"]
    for name in ("a", "b", "c", "d", "e"):
        r = s.api("POST", f"{API}/logged-models", json={"experiment_id": "0", "name": name,
                                                         "source_run_id": run, "model_type": "t" if name < "c" else "u"})
        assert r.status_code == 200
    body = {"experiment_ids": ["0"], "max_results": 2, "filter": "model_type = 'u' AND name != 'e'",
            "order_by": [{"field_name": "name", "ascending": True}]}
    first = s.api("POST", f"{API}/logged-models/search", json=body).json()
    assert [m["info"]["name"] for m in first["models"]] == ["c", "d"]
    assert "next_page_token" not in first  # an exactly full page has no token
    body["max_results"] = 1
    names, token = [], None
    while True:
        page = s.api("POST", f"{API}/logged-models/search", json={**body, **({"page_token": token} if token else {})}).json()
        names += [m["info"]["name"] for m in page.get("models", [])]
        token = page.get("next_page_token")
        if not token:
            break
    assert names == ["c", "d"]
    # a token is bound to its filter
    page = s.api("POST", f"{API}/logged-models/search", json=body).json()
    other = s.api("POST", f"{API}/logged-models/search",
                  json={**body, "filter": "name = 'a'", "page_token": page["next_page_token"]})
    assert other.status_code == 400
    assert other.json()["message"].startswith("Filter string in the page token does not match")
    bad = s.api("POST", f"{API}/logged-models/search", json={"experiment_ids": ["0"], "order_by": [{"field_name": "colour"}]})
    assert bad.status_code == 400 and bad.json()["error_class"] == "ATTRIBUTE_NOT_FOUND"


def _prompt(s, name):
    tag = [{"key": "mlflow.prompt.is_prompt", "value": "true"}]
    assert s.api("POST", "/api/2.0/mlflow/registered-models/create", json={"name": name, "tags": tag}).status_code == 200
    return s.api("POST", "/api/2.0/mlflow/model-versions/create",
                 json={"name": name, "source": "prompt-template", "tags": tag})


def test_prompts_hidden_only_in_the_mlflow3_dialect(start_keel, tmp_path, keel):
    s3 = start_keel(tmp_path / "three", "--mlflow-api", "3")
    assert _prompt(s3, "p").status_code == 200
    r = s3.api("POST", "/api/2.0/mlflow/model-versions/create",
               json={"name": "p", "source": "/etc/passwd", "tags": [{"key": "mlflow.prompt.is_prompt", "value": "true"}]})
    assert r.status_code == 400 and "Local source paths are not allowed for prompts" in r.json()["message"]
    s3.api("POST", "/api/2.0/mlflow/registered-models/create", json={"name": "m"})
    names = lambda s, f=None: [m["name"] for m in s.api(  # noqa: E731
        "GET", "/api/2.0/mlflow/registered-models/search", params={"filter": f} if f else {}).json().get("registered_models", [])]
    assert names(s3) == ["m"]
    assert names(s3, "tags.`mlflow.prompt.is_prompt` != 'FALSE'") == ["p"]  # asks for prompts
    assert names(s3, "name LIKE '%' AND tag.`mlflow.prompt.is_prompt` != 'true'") == ["m"]
    # MLflow 2 has no prompts: the placeholder source is a bad local path, and search hides nothing
    assert _prompt(keel, "p").status_code == 400
    keel.api("POST", "/api/2.0/mlflow/registered-models/create", json={"name": "m"})
    assert names(keel) == ["m", "p"]


def test_each_client_generation_gets_its_answers_whatever_the_default(start_keel, tmp_path):
    """The dialect follows the client (its User-Agent / X-MLflow-Client-Version); the
    --mlflow-api default only serves clients that say nothing."""
    import replay
    for flag, name, headers in (("3", "mlflow-2.12-rest.jsonl", replay.CLIENT_2_12),
                                ("2", "mlflow-3-rest.jsonl", replay.CLIENT_3)):
        s = start_keel(tmp_path / flag, "--mlflow-api", flag)
        results = replay.replay_all(s.url, replay.load_vectors(replay.VECTORS_DIR / name), headers)
        bad = {n: r.mismatches for n, r in results.items() if r.mismatches}
        assert not bad, (name, list(bad.items())[:3])
