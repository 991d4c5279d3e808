"""The health endpoints on `run --liveness URL` (the chart's probes): liveness at the URL's path (`/healthz`),
readiness at `/readyz` on the same port. Each answers JSON, one entry per check; 200 when all pass, else 500
(liveness) or 503 (readiness).

Alive: the process serves (on kopf's event loop, so a loop that hangs fails the probe), its periodic loop runs
(kopf keeps serving watches after a task of ours died, and only a restart brings the drift repair and the error
looks back), and the test-only switch is off. Ready: alive, kopf has started its work, and the cluster's CRD can
hold what the operator writes (controller/crd_upkeep.py). An operator waiting for its CRD is alive and not
ready: the kubelet leaves it running, and a rolling upgrade stops on it while the old pods keep serving.

The test-only switch proves the probes are wired to the right port and path: with
AGREEMENT_OPERATOR_TEST_UNHEALTHY_FILE set, touching that file fails the liveness of the process running then
(its replacement starts later than the file's time, so it is healthy).
"""

import json
import os
import threading
import time
import urllib.parse
from collections.abc import Callable

import kopf
from aiohttp import web

from agreement_operator.config import Config

_STARTED = time.time()
READINESS_PATH = "/readyz"


class Unhealthy(Exception):
    """A check failed; the message says why."""


def periodic_work_running(memo: kopf.Memo) -> str:
    task = memo.get("periodic_task")
    if task is None:
        return "starting"
    if task.done():
        raise Unhealthy("the periodic work on Ready metrics stopped; a restart starts it again")
    return "running"


def test_switch(memo: kopf.Memo) -> str:
    config: Config = memo.config
    if config.unhealthy_file is None:
        return "off"
    try:
        touched = os.stat(config.unhealthy_file).st_mtime
    except FileNotFoundError:
        return "healthy"
    if touched >= _STARTED:
        raise Unhealthy(f"{config.unhealthy_file} was touched after this process started (a test's switch)")
    return "healthy"


def crd_current(memo: kopf.Memo) -> str:
    upkeep = memo.get("crd_upkeep")
    if upkeep is None:
        raise Unhealthy("the CRD has not been checked yet")
    if upkeep.problem is not None:
        raise Unhealthy(upkeep.problem)
    return "current"


def work_started(memo: kopf.Memo) -> str:
    started: threading.Event | None = memo.get("started")
    if started is None or not started.is_set():
        raise Unhealthy("starting: waiting for the CRD, or for kopf to start")
    return "started"


LIVENESS: dict[str, Callable[[kopf.Memo], str]] = {
    "periodic work": periodic_work_running, "test switch": test_switch}
READINESS: dict[str, Callable[[kopf.Memo], str]] = {**LIVENESS, "crd": crd_current, "work": work_started}


def answer(checks: dict[str, Callable[[kopf.Memo], str]], memo: kopf.Memo, failing_status: int) -> tuple[int, dict]:
    results, status = {}, 200
    for name, check in checks.items():
        try:
            results[name] = check(memo)
        except Unhealthy as failure:
            results[name], status = f"failing: {failure}", failing_status
    return status, results


class HealthServer:
    """An aiohttp server on kopf's event loop, started before the operator waits for its CRD."""

    def __init__(self, url: str, memo: kopf.Memo) -> None:
        parts = urllib.parse.urlsplit(url)
        self.host, self.port, self.path = parts.hostname or "0.0.0.0", parts.port or 80, parts.path or "/healthz"
        self.memo = memo
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get(self.path, self._respond(LIVENESS, 500))
        app.router.add_get(READINESS_PATH, self._respond(READINESS, 503))
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, self.host, self.port, reuse_address=True).start()

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    def _respond(self, checks: dict[str, Callable[[kopf.Memo], str]], failing_status: int):
        async def respond(_: web.Request) -> web.Response:
            status, results = answer(checks, self.memo, failing_status)
            return web.Response(status=status, text=json.dumps(results), content_type="application/json")
        return respond
