# Replays the recorded MLflow 2.12 REST scenario (tracking, proxied artifacts, model
# registry) against one fresh keel server and turns every exchange into its own test, so a
# regression names the exact request that broke. Every exchange is asserted.
import pytest

import replay

EXCHANGES = replay.load_vectors(replay.VECTORS_DIR / "mlflow-2.12-rest.jsonl")


@pytest.fixture(scope="module")
def results(keel_module):
    return replay.replay_all(keel_module.url, EXCHANGES, replay.CLIENT_2_12)


@pytest.mark.parametrize("name", replay.pytest_params(EXCHANGES, lambda x: None))
def test_exchange(results, keel_module, name):
    replay.assert_ok(results[name], keel_module)
