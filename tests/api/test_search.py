# Search beyond the recorded vectors: keys that are SQL words elsewhere, values full of SQL
# metacharacters, metric ordering with missing values last, and paging that neither
# repeats nor skips a run.
def _run(s, exp_id, name, metrics=None, params=None, tags=None):
    rid = s.api("POST", "/api/2.0/mlflow/runs/create",
                json={"experiment_id": exp_id, "run_name": name,
                      "start_time": 1700000000000}).json()["run"]["info"]["run_id"]
    body = {"run_id": rid,
            "metrics": [{"key": k, "value": v, "timestamp": 1, "step": 0} for k, v in (metrics or {}).items()],
            "params": [{"key": k, "value": v} for k, v in (params or {}).items()],
            "tags": [{"key": k, "value": v} for k, v in (tags or {}).items()]}
    assert s.api("POST", "/api/2.0/mlflow/runs/log-batch", json=body).status_code == 200
    return rid


def _search(s, exp_id, **kw):
    body = {"experiment_ids": [exp_id], "max_results": 1000, **kw}
    r = s.api("POST", "/api/2.0/mlflow/runs/search", json=body)
    assert r.status_code == 200, r.text
    return r.json()


def _names(res):
    return [r["info"]["run_name"] for r in res.get("runs", [])]


def test_filters_and_ordering(keel):
    exp = keel.api("POST", "/api/2.0/mlflow/experiments/create", json={"name": "s"}).json()["experiment_id"]
    nasty = "a'; DROP TABLE runs; --"
    _run(keel, exp, "r1", {"acc": 0.9}, {"from": "x", "model": "XGB"}, {"note": nasty})
    _run(keel, exp, "r2", {"acc": 0.7}, {"from": "y", "model": "xgb"})
    _run(keel, exp, "r3", {}, {"model": "lr"})
    assert _names(_search(keel, exp, filter="params.from = 'x'")) == ["r1"]
    assert _names(_search(keel, exp, filter="params.model LIKE 'xg%'")) == ["r2"]
    assert sorted(_names(_search(keel, exp, filter="params.model ILIKE 'xg%'"))) == ["r1", "r2"]
    assert _names(_search(keel, exp, filter="tags.note = \"" + nasty + "\"")) == ["r1"]
    for order in ("ASC", "DESC"):
        got = _names(_search(keel, exp, order_by=[f"metrics.acc {order}"]))
        assert got[-1] == "r3", got  # a run without the metric sorts last either way
    assert _names(_search(keel, exp, order_by=["metrics.acc DESC"]))[:2] == ["r1", "r2"]


def test_paging_visits_every_run_once(keel):
    exp = keel.api("POST", "/api/2.0/mlflow/experiments/create", json={"name": "p"}).json()["experiment_id"]
    made = {_run(keel, exp, f"r{i}", {"m": float(i)}) for i in range(23)}
    seen, token = [], None
    while True:
        kw = {"max_results": 5, "order_by": ["metrics.m ASC"]}
        if token:
            kw["page_token"] = token
        res = keel.api("POST", "/api/2.0/mlflow/runs/search",
                       json={"experiment_ids": [exp], **kw}).json()
        seen += [r["info"]["run_id"] for r in res.get("runs", [])]
        token = res.get("next_page_token")
        if not token:
            break
    assert len(seen) == len(made) and set(seen) == made


def _expected_order(runs, key, asc):
    # MLflow's order: real values (by value), then NaN, then runs without the metric;
    # ties by start_time DESC, then run id ASC
    def sort_key(r):
        v = r["metrics"].get(key)
        if v is None:
            group, val = 2, 0.0
        elif v != v:
            group, val = 1, 0.0
        else:
            group, val = 0, (v if asc else -v)
        return (group, val, -r["start_time"], r["run_id"])
    return [r["run_id"] for r in sorted(runs, key=sort_key)]


def test_metric_ordering_pages_match_mlflow_order(keel):
    exp = keel.api("POST", "/api/2.0/mlflow/experiments/create", json={"name": "o"}).json()["experiment_id"]
    runs = []
    for i in range(40):
        value = [float(i % 7), float("nan"), None][0 if i % 5 else (1 if i % 10 else 2)]
        start = 1700000000000 + (i % 3)  # ties on value and on start_time
        rid = keel.api("POST", "/api/2.0/mlflow/runs/create",
                       json={"experiment_id": exp, "start_time": start}).json()["run"]["info"]["run_id"]
        metrics = {} if value is None else {"m": value}
        body = {"run_id": rid, "metrics": [{"key": "m", "value": "NaN" if v != v else v,
                                            "timestamp": 1, "step": 0} for v in metrics.values()],
                "params": [{"key": "even", "value": str(i % 2 == 0)}]}
        assert keel.api("POST", "/api/2.0/mlflow/runs/log-batch", json=body).status_code == 200
        runs.append({"run_id": rid, "start_time": start, "metrics": metrics, "even": i % 2 == 0})
    for asc in (True, False):
        for flt, subset in (("", runs), ("params.even = 'True'", [r for r in runs if r["even"]])):
            want = _expected_order(subset, "m", asc)
            for size in (1, 3, 7, 40, 100):
                got, token = [], None
                while True:
                    body = {"experiment_ids": [exp], "filter": flt, "max_results": size,
                            "order_by": ["metrics.m " + ("ASC" if asc else "DESC")]}
                    if token:
                        body["page_token"] = token
                    res = keel.api("POST", "/api/2.0/mlflow/runs/search", json=body).json()
                    got += [r["info"]["run_id"] for r in res.get("runs", [])]
                    token = res.get("next_page_token")
                    if not token:
                        break
                assert got == want, (asc, flt, size)
