# Both recorded MLflow generations against ONE keel server, in both orders: the 2.12 file
# with a 2.12 client's headers and the MLflow 3 file with a 3.x client's, so each client
# sees what its own MLflow server would answer while the other one has used the same store.
# Each recording starts from an empty store and lists the registry whole, so after the 2.12
# file its registered models are deleted through the API, as a user would. The 2.12 file goes
# first because it also lists every experiment, and experiments never leave a store.
import pytest
import requests

import replay
from conftest import KeelServer, _shutdown

FILES = {
    "2.12": ("mlflow-2.12-rest.jsonl", replay.CLIENT_2_12),
    "3": ("mlflow-3-rest.jsonl", replay.CLIENT_3),
}


def _delete_registered_models(url, headers):
    api = url + "/api/2.0/mlflow/registered-models"
    names = [m["name"] for m in requests.get(api + "/search", params={"max_results": 1000},
                                             headers=headers, timeout=30).json()
             .get("registered_models", [])]
    assert names, "the first file registered models; the cleanup must see them"
    for name in names:
        r = requests.delete(api + "/delete", json={"name": name}, headers=headers, timeout=30)
        assert r.status_code == 200, r.text


def test_both_generations_on_one_server(tmp_path):
    order = ("2.12", "3")
    server = KeelServer(tmp_path).start()
    try:
        failures = []
        for i, generation in enumerate(order):
            path, headers = FILES[generation]
            results = replay.replay_all(server.url, replay.load_vectors(replay.VECTORS_DIR / path),
                                        headers)
            failures += [f"[{generation}] " + r.report(1500) for r in results.values() if not r.ok]
            if i == 0:
                _delete_registered_models(server.url, headers)
        assert server.proc.poll() is None, server.stderr()[-3000:]
        assert not failures, f"{len(failures)} exchanges differ:\n" + "\n".join(failures[:5])
    finally:
        _shutdown([server])
