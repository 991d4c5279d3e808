"""What the liveness endpoint (`run --liveness URL`, the chart's probes) says: kopf answers 500 when a
probe here raises kopf.PermanentError (kopf retries anything else, holding the request), and the
kubelet restarts the pod after the probe's failureThreshold.

The operator is alive while its periodic loop (controller/periodic.py) runs: kopf keeps serving
watches after a task of ours died, and only a restart brings the drift repair and the error looks
back. A test-only switch proves the probes are wired to the right port and path: with
AGREEMENT_OPERATOR_TEST_UNHEALTHY_FILE set, touching that file fails the probe of the process
running then (its replacement starts later than the file's time, so it is healthy).
"""

import os
import time

import kopf

from agreement_operator.config import Config

_STARTED = time.time()


def periodic_work_running(memo: kopf.Memo, **_) -> str:
    task = memo.get("periodic_task")
    if task is None:
        return "starting"
    if task.done():
        raise kopf.PermanentError("the periodic work on Ready metrics stopped; a restart starts it again")
    return "running"


def test_switch(memo: kopf.Memo, **_) -> str:
    config: Config = memo.config
    if config.unhealthy_file is None:
        return "off"
    try:
        touched = os.stat(config.unhealthy_file).st_mtime
    except FileNotFoundError:
        return "healthy"
    if touched >= _STARTED:
        raise kopf.PermanentError(f"{config.unhealthy_file} was touched after this process started (a test's switch)")
    return "healthy"
