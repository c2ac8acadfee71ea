# Replays the recorded MLflow 3 REST scenario (logged models, run outputs, metrics with a
# model, registration from logged models, prompt-aware registry search) against one fresh
# keel server, one pytest test per exchange, like test_conformance.py does for 2.12.
import pytest

import replay

# Work that has not landed yet, by path prefix, exchange name or group. Every exchange is
# still sent in order; only the assertion of these is skipped. Delete an entry when the
# work lands.
NOT_YET = []  # (method or None for any, path prefix, skip reason)
NOT_YET_NAMES = {}
NOT_YET_GROUPS = {
}

EXCHANGES = replay.load_vectors(replay.VECTORS_DIR / "mlflow-3-rest.jsonl")


def skip_reason(x):
    for method, prefix, reason in NOT_YET:
        if method in (None, x["method"]) and x["path"].startswith(prefix):
            return reason
    return NOT_YET_NAMES.get(x["name"]) or NOT_YET_GROUPS.get(x["group"])


@pytest.fixture(scope="module")
def results(keel_module):
    # the server is started exactly as for the 2.12 file; it answers as MLflow 3 because
    # the requests say they come from an MLflow 3 client (decision 0009)
    return replay.replay_all(keel_module.url, EXCHANGES, replay.CLIENT_3)


@pytest.mark.parametrize("name", replay.pytest_params(EXCHANGES, skip_reason))
def test_exchange(results, keel_module, name):
    replay.assert_ok(results[name], keel_module)
