"""The liveness probes: the periodic loop running, and the test-only switch that fails the probe of the
process running when its file is touched (the node tier watches the kubelet restart the pod for it)."""

import asyncio
import time

import kopf
import pytest

from agreement_operator.config import Config
from agreement_operator.controller import health


def memo(**fields) -> kopf.Memo:
    return kopf.Memo({"config": Config(region="us-east-1", execution_role_arn=None), **fields})


def test_the_operator_is_alive_while_its_periodic_loop_runs():
    async def check() -> None:
        loop_task = asyncio.create_task(asyncio.sleep(60))
        assert health.periodic_work_running(memo(periodic_task=loop_task)) == "running"
        loop_task.cancel()
        await asyncio.sleep(0)
        with pytest.raises(kopf.PermanentError, match="periodic work on Ready metrics stopped"):
            health.periodic_work_running(memo(periodic_task=loop_task))

    assert health.periodic_work_running(memo()) == "starting"
    asyncio.run(check())


def test_the_switch_fails_only_the_process_running_when_the_file_was_touched(tmp_path, monkeypatch):
    switch = tmp_path / "unhealthy"
    configured = kopf.Memo({"config": Config(region="us-east-1", execution_role_arn=None, unhealthy_file=str(switch))})
    assert health.test_switch(memo()) == "off"
    assert health.test_switch(configured) == "healthy"  # no file yet
    switch.touch()
    with pytest.raises(kopf.PermanentError, match="touched after this process started"):
        health.test_switch(configured)
    monkeypatch.setattr(health, "_STARTED", time.time() + 1)  # the replacement process, started later
    assert health.test_switch(configured) == "healthy"


def test_the_switch_is_read_from_the_environment():
    environment = {"LS_LAMBDA_REGION_CUSTOM_METRICS": "us-east-1",
                   "LS_LAMBDA_ROLE_CUSTOM_METRICS": "arn:aws:iam::123456789012:role/LSE_CustomMetricsExecuteRole"}
    assert Config.from_env(environment).unhealthy_file is None
    switched = {**environment, "AGREEMENT_OPERATOR_TEST_UNHEALTHY_FILE": "/tmp/x"}
    assert Config.from_env(switched).unhealthy_file == "/tmp/x"
