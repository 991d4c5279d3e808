"""The health endpoints: liveness (the periodic loop running, and the test-only switch that fails the probe of
the process running when its file is touched; the node tier watches the kubelet restart the pod for it), and
readiness (started, with a CRD that holds what the operator writes), served over HTTP."""

import asyncio
import json
import threading
import time
import urllib.error
import urllib.request

import kopf
import pytest

from agreement_operator.config import Config
from agreement_operator.controller import health
from agreement_operator.sandbox.processes import free_port


def memo(**fields) -> kopf.Memo:
    return kopf.Memo({"config": Config(region="us-east-1", execution_role_arn=None), **fields})


def test_the_operator_is_alive_while_its_periodic_loop_runs():
    async def check() -> None:
        loop_task = asyncio.create_task(asyncio.sleep(60))
        assert health.periodic_work_running(memo(periodic_task=loop_task)) == "running"
        loop_task.cancel()
        await asyncio.sleep(0)
        with pytest.raises(health.Unhealthy, match="periodic work on Ready metrics stopped"):
            health.periodic_work_running(memo(periodic_task=loop_task))

    assert health.periodic_work_running(memo()) == "starting"
    asyncio.run(check())


def test_the_switch_fails_only_the_process_running_when_the_file_was_touched(tmp_path, monkeypatch):
    switch = tmp_path / "unhealthy"
    configured = kopf.Memo({"config": Config(region="us-east-1", execution_role_arn=None, unhealthy_file=str(switch))})
    assert health.test_switch(memo()) == "off"
    assert health.test_switch(configured) == "healthy"  # no file yet
    switch.touch()
    with pytest.raises(health.Unhealthy, match="touched after this process started"):
        health.test_switch(configured)
    monkeypatch.setattr(health, "_STARTED", time.time() + 1)  # the replacement process, started later
    assert health.test_switch(configured) == "healthy"


def test_the_switch_is_read_from_the_environment():
    environment = {"LS_LAMBDA_REGION_CUSTOM_METRICS": "us-east-1",
                   "LS_LAMBDA_ROLE_CUSTOM_METRICS": "arn:aws:iam::123456789012:role/LSE_CustomMetricsExecuteRole"}
    assert Config.from_env(environment).unhealthy_file is None
    switched = {**environment, "AGREEMENT_OPERATOR_TEST_UNHEALTHY_FILE": "/tmp/x"}
    assert Config.from_env(switched).unhealthy_file == "/tmp/x"


class Upkeep:
    def __init__(self, problem: str | None) -> None:
        self.problem = problem


def test_ready_only_once_started_with_a_current_crd():
    started = threading.Event()
    assert health.answer(health.READINESS, memo(started=started, crd_upkeep=Upkeep(None)), 503)[0] == 503
    started.set()
    status, results = health.answer(health.READINESS, memo(started=started, crd_upkeep=Upkeep(None)), 503)
    assert (status, results["crd"], results["work"]) == (200, "current", "started")
    status, results = health.answer(health.READINESS, memo(started=started, crd_upkeep=Upkeep("CRD is old")), 503)
    assert (status, results["crd"]) == (503, "failing: CRD is old")
    # An operator waiting for its CRD is alive: the kubelet must not restart it.
    assert health.answer(health.LIVENESS, memo(started=threading.Event(), crd_upkeep=Upkeep("CRD is old")), 500)[0] \
        == 200


def test_the_server_answers_liveness_at_its_path_and_readiness_at_readyz():
    unused_port = free_port()
    waiting = memo(started=threading.Event(), crd_upkeep=Upkeep("CRD agreementmetrics.agreement.dev is old"))

    def get(path: str) -> tuple[int, dict]:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{unused_port}{path}", timeout=5) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read())

    async def serve() -> list[tuple[int, dict]]:
        server = health.HealthServer(f"http://127.0.0.1:{unused_port}/healthz", waiting)
        await server.start()
        try:
            return [await asyncio.to_thread(get, path) for path in ("/healthz", "/readyz")]
        finally:
            await server.stop()

    (live, live_body), (ready, ready_body) = asyncio.run(serve())
    assert (live, live_body) == (200, {"periodic work": "starting", "test switch": "off"})
    assert ready == 503 and ready_body["crd"] == "failing: CRD agreementmetrics.agreement.dev is old"
