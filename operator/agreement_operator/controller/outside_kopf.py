"""A metric's pass run by the operator itself, outside kopf's handlers: the periodic checks (periodic.py) and
the passes that waited in the queue (admission.py).

The pass gets the metric as the apiserver has it now, a kopf Body and Patch of its own, and a memo whose
Events are posted by the operator (kopf's posting has no queue outside its handlers). Its status is written
only if the metric is still at the generation the pass worked on: a change handled meanwhile (invalid code
Stalled while a check waited on Label Studio) must not be overwritten by a status about the metric as it was.
"""

import logging
from collections.abc import Callable, Mapping, MutableMapping
from typing import NamedTuple

import kopf

from agreement_operator import failures
from agreement_operator.controller import conditions

logger = logging.getLogger(__name__)
# A status write that failed for another reason than a change meanwhile: the pass comes back this much later.
WRITE_RETRY_SECONDS = 60.0
# Writes of the metric by others (kopf's annotations) between a pass's read and its status write, read again.
CONFLICTS_TOLERATED = 3


class Pass(NamedTuple):
    """What a pass outside kopf works on; `memo` is the one to hand to the handler."""

    body: kopf.Body
    patch: kopf.Patch
    memo: kopf.Memo
    logger: logging.LoggerAdapter
    versions: "Versions"


class Versions:
    """The metric's resourceVersion as the pass read it, moved on by the status the pass itself writes midway
    (a function's name recorded before it is created): the final write is conditional on the last of them."""

    def __init__(self, read_at: str | None) -> None:
        self.current = read_at

    def tracking(self, write: Callable[..., str | None]) -> Callable[..., str | None]:
        def tracked(namespace: str, name: str, fields: dict, resource_version: str | None = None) -> str | None:
            written = write(namespace, name, fields, resource_version)
            if written is not None:
                self.current = written
            return written
        return tracked


def start(memo: kopf.Memo, uid: str, namespace: str, name: str) -> Pass | None:
    """The metric read now, ready for a pass; None when it was deleted (or deleted and made again) since, or is
    being deleted: kopf's deletion handler has it."""
    found = memo.read_metric(namespace, name)
    if found is None or found["metadata"].get("uid") != uid or found["metadata"].get("deletionTimestamp"):
        return None
    body = kopf.Body(found)
    versions = Versions(found["metadata"].get("resourceVersion"))
    outside = kopf.Memo({**memo, "post_event": memo.post_event_outside_kopf,
                         "write_status": versions.tracking(memo.write_status)})
    return Pass(body, kopf.Patch(), outside, MetricLogger(namespace, name), versions)


def finish(memo: kopf.Memo, done: Pass) -> float | None:
    """The status the pass left in its patch, written if the metric is still at the generation the pass worked
    on; None, or the seconds after which the pass must come back because the write failed (a field the CRD
    pruned, which the writer reported)."""
    fields = done.patch.get("status")
    if not fields:
        return None
    meta = done.body.meta
    namespace, name, version = meta["namespace"], meta["name"], done.versions.current
    for _ in range(CONFLICTS_TOLERATED + 1):
        try:
            memo.write_status(namespace, name, conditions.merge_patch(done.body.status, fields),
                              resource_version=version)
            return None
        except failures.ReconcileFailure as failure:
            if failure.reason == "NotFound":
                return None
            if failure.reason != "Conflict":
                logger.warning("[%s/%s] the status of a pass was not written: %s", namespace, name, failure.message)
                delay = failure.delay if isinstance(failure, failures.RetryableFailure) else None
                return delay or WRITE_RETRY_SECONDS
        # Written since it was read: by kopf's annotations or a label, the status stands; by a new generation,
        # whose own pass tells, it does not.
        now = memo.read_metric(namespace, name)
        if now is None or (now["metadata"].get("uid"), now["metadata"].get("generation")) != \
                (meta.get("uid"), meta.get("generation")):
            return None
        version = now["metadata"].get("resourceVersion")
    return WRITE_RETRY_SECONDS


class MetricLogger(logging.LoggerAdapter):
    """Lines prefixed with the metric, as kopf's own handler loggers write them."""

    def __init__(self, namespace: str, name: str) -> None:
        super().__init__(logging.getLogger("agreement_operator.periodic"), {})
        self.prefix = f"[{namespace}/{name}]"

    def process(self, msg: object, kwargs: MutableMapping) -> tuple[object, MutableMapping]:
        return f"{self.prefix} {msg}", kwargs


def handler_kwargs(run: Pass, attempt: int) -> Mapping:
    """The keyword arguments of a kopf handler, for the pass."""
    body = run.body
    return {"body": body, "spec": body.spec, "meta": body.meta, "status": body.status, "patch": run.patch,
            "memo": run.memo, "logger": run.logger, "retry": attempt}
