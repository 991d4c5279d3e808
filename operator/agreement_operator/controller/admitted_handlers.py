"""The metric passes kopf would start for every new metric at once, bounded: the change handlers as kopf calls
them, which run in a thread only when the admission (admission.py) lets them, and the passes that waited in
the operator's queue instead, run outside kopf (outside_kopf.py)."""

import asyncio
import contextvars
import functools
import logging
from collections.abc import Awaitable, Callable

import kopf

from agreement_operator import failures
from agreement_operator.controller import admission, handlers, log_setup, outside_kopf, prometheus, startup

logger = logging.getLogger(__name__)
# A queued pass in a replica that is not the active one comes back this much later (kopf pauses likewise).
QUEUED_INACTIVE_SECONDS = 5.0
# The queued passes of a burst share one read of the peering object this long.
ACTIVE_ANSWER_SECONDS = 1.0


def queued_pass(memo: kopf.Memo, queued: admission.Queued) -> float | None:
    """A pass that waited in the operator's queue (admission.py), on the metric as the apiserver has it now: None
    when it is done, or the seconds after which it comes back (Lambda still applying, the quota's turn)."""
    if not memo.active_replica.active(max_age=ACTIVE_ANSWER_SECONDS):  # another replica has the metrics: later
        return QUEUED_INACTIVE_SECONDS
    run = outside_kopf.start(memo, queued.uid, queued.namespace, queued.name)
    if run is None:
        return None
    handler = handlers.resume_metric if queued.resumed else handlers.reconcile_metric
    again: float | None = None
    try:
        handler(**outside_kopf.handler_kwargs(run, queued.attempt))
    except kopf.TemporaryError as retry:
        again = _coming_back(queued, retry)
    # A bug in one metric's pass: the traceback is logged and the pass comes back later, as kopf retries a handler.
    except Exception:
        logger.exception("[%s/%s] a queued pass failed", queued.namespace, queued.name)
        again = failures.backoff(queued.attempt)
    finally:
        write_delay = outside_kopf.finish(memo, run)
    return again if again is not None else write_delay


def admitted(handler: Callable[..., None]) -> Callable[..., Awaitable[None]]:
    """A change handler that runs in a thread only if the admission lets it (admission.py): a person's change at
    once; a new metric, or the first look after a restart, only while a thread is free and nothing waits ahead.
    Otherwise the metric waits in the operator's queue as a key, and kopf's worker lets its event go. A pass of
    those that must come back (Lambda applying, the quota's turn) also comes back through the queue."""
    async def handle(memo: kopf.Memo, meta: kopf.Meta, reason: str = "", retry: int = 0, **kwargs) -> None:
        gate: admission.Admission = memo.admission
        queued = admission.Queued(meta["uid"], meta["namespace"], meta["name"], resumed=reason == "resume",
                                  attempt=retry)
        if not gate.enter(urgent=reason == "update"):
            logger.info("[%s/%s] the pass waits in the queue for a thread, behind %d metrics", queued.namespace,
                        queued.name, gate.waiting())
            gate.queue(queued)
            return
        gate.forget(queued.uid)
        run = functools.partial(handler, memo=memo, meta=meta, reason=reason, retry=retry, **kwargs)
        try:  # in kopf's threads, with kopf's context (its Events are posted through it), as kopf runs a handler
            await asyncio.get_running_loop().run_in_executor(memo.executor, contextvars.copy_context().run, run)
        except kopf.TemporaryError as again:
            if reason == "update":
                raise
            gate.queue(queued._replace(attempt=retry + 1), _coming_back(queued, again))
        finally:
            gate.leave()
    handle.__qualname__ = handle.__name__ = handler.__name__  # in logs and tracebacks, the handler it runs
    handle.__doc__ = handler.__doc__
    return handle


def _coming_back(queued: admission.Queued, retry: kopf.TemporaryError) -> float:
    """When a pass that must come back does, logged as kopf logs its retries, at the level the pass noted (INFO
    for pacing: Lambda applying, the quota's turn; WARNING for a failure that passes by itself)."""
    delay = retry.delay if retry.delay is not None else failures.backoff(queued.attempt)
    logger.log(log_setup.RETRY_LEVELS.level_of(queued.uid), "[%s/%s] the pass comes back in %.1f s: %s",
               queued.namespace, queued.name, delay, retry)
    return delay


async def start_queued_passes(memo: kopf.Memo, settings: kopf.OperatorSettings, **_) -> None:
    """The queue, with as many slots as kopf's threads, whose passes run in those same threads."""
    memo.executor = settings.execution.executor

    async def run(queued: admission.Queued) -> float | None:
        return await asyncio.get_running_loop().run_in_executor(memo.executor, queued_pass, memo, queued)
    memo.admission = admission.Admission(memo.config.workers, run)
    prometheus.watch_queue(memo.admission.waiting)
    memo.queued_task = asyncio.create_task(memo.admission.run(), name="queued metric passes")


async def stop_queued_passes(memo: kopf.Memo, **_) -> None:
    await startup.cancelled(memo.get("queued_task"))
