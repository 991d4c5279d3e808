"""kopf handlers: they read the resource, call reconcile, and write status and Events back."""

import asyncio
import contextlib
import functools
import logging
import threading
import time
from collections.abc import Callable, Mapping

import kopf

from agreement_operator import crd, failures
from agreement_operator.controller import conditions, log_setup, outside_kopf, periodic, prometheus, startup
from agreement_operator.metric import code_from
from agreement_operator.metric import spec as metric_spec
from agreement_operator.metric.owner import Owner
from agreement_operator.target import Event, Outcome, Phase, Request, Target, failed, parsed, resolved_spec

logger = logging.getLogger(__name__)
# AWS refused to delete (e.g. AccessDenied): the finalizer holds the resource, so try again now and then.
DELETE_RETRY_SECONDS = 60.0
# A first wait for Lambda (or for the quota) this short writes no Reconciling status.
QUIET_SECONDS = 2.0
# Drift checks wait until a metric was left alone this long: its change handlers go first.
RESYNC_IDLE_SECONDS = 10.0
# The periodic work's own threads: a few AWS reads a second at 1,000 metrics, each under 0.1 s.
PERIODIC_THREADS = 4
_locks_guard = threading.Lock()
DEPLOYING = Outcome(Phase.RECONCILING, "Deploying", "deploying the metric")


def reconcile_metric(
    body: kopf.Body, spec: kopf.Spec, meta: kopf.Meta, status: kopf.Status,
    patch: kopf.Patch, memo: kopf.Memo, logger: kopf.Logger, retry: int = 0, reason: str = "",
    drift_check: bool = False, looking_again: bool = False, **_,
) -> None:
    """`reason`: kopf's cause; "update" (a person changed the metric) goes ahead of bulk work at AWS.
    `drift_check`: a periodic pass over a metric deployed as specified, which changes no condition while
    it waits for its turn at the quota (it knows nothing new yet). `looking_again`: a pass nobody asked for
    (the first of this process, a look at a metric Stalled by something outside it), which does not announce
    again a Stall its status already records."""
    generation, target = meta.get("generation"), _target(memo, spec)
    started = time.monotonic()
    written: dict = {}  # what the target writes mid-pass
    request = _request(spec, meta, status, memo, retry, urgent=reason == "update", written=written)
    try:
        outcome = _judged_at_once(request)
        if outcome is None:
            with _lock_for(memo, meta["uid"]):
                outcome = target.reconcile(request)
    except Exception as error:  # a bug: say so on the resource instead of leaving stale conditions, then let kopf retry
        prometheus.observe_reconcile(target.name, None, time.monotonic() - started, meta)
        internal = Outcome(Phase.RECONCILING, "InternalError", f"{type(error).__name__}: {error}")
        patch.status.update(conditions.status_for(internal, generation, status))
        raise
    prometheus.observe_reconcile(target.name, outcome, time.monotonic() - started, meta)
    current = {**status, **written}
    new_status = conditions.status_for(outcome, generation, current)
    # A pass that changed nothing writes nothing; nor does a first short wait for Lambda, while the
    # status already says the metric is in progress (see _settling_quietly).
    quiet = _settling_quietly(outcome, retry, current, generation) or (drift_check and outcome.quota_turn)
    changed = any(current.get(key) != value for key, value in new_status.items())
    if changed and not quiet:
        patch.status.update(new_status)
        logger.info("%s: %s", outcome.reason, outcome.message)
    if outcome.phase is not Phase.STALLED:
        memo.stall_looks.forget(meta["uid"])
    if changed or not looking_again or outcome.phase is not Phase.STALLED:
        _post(memo, body, memo.episodes.events(meta["uid"], outcome.phase, outcome.reason, outcome.events))
    if outcome.retry_delay is not None:
        pacing = outcome.settling or outcome.quota_turn  # not a failure: Lambda applying a change, the quota's turn
        log_setup.RETRY_LEVELS.note(meta["uid"], outcome.message, logging.INFO if pacing else logging.WARNING)
        raise kopf.TemporaryError(outcome.message, delay=outcome.retry_delay)


def _judged_at_once(request: Request) -> Outcome | None:
    """The Stalled Outcome of a spec or code that cannot be deployed, judged without a network call and before
    the pass waits for the metric's lock, which a periodic check may hold while Label Studio or AWS is slow to
    answer (invalid code waited 12 s behind a hung Label Studio); None for a spec worth a pass."""
    try:
        parsed(resolved_spec(request))
    except failures.PermanentFailure as failure:
        return failed(failure, request.attempt, [], {})
    except failures.ReconcileFailure:  # the ConfigMap could not be read now: the pass will say so
        return None
    return None


def status_written_by_the_operator(handler: Callable[..., None]) -> Callable[..., None]:
    """A kopf handler whose status is written with the operator's own checked write (memo.write_status, which
    reports fields the CRD pruned), not with kopf's patch; kopf then writes only its own annotations."""
    @functools.wraps(handler)
    def handle(**kwargs) -> None:
        try:
            handler(**kwargs)
        except BaseException:
            with contextlib.suppress(kopf.TemporaryError):  # the handler's own failure is the one to tell
                _write_status(kwargs["memo"], kwargs["meta"], kwargs["status"], kwargs["patch"].pop("status", None))
            raise
        _write_status(kwargs["memo"], kwargs["meta"], kwargs["status"], kwargs["patch"].pop("status", None))
    return handle


def _write_status(memo: kopf.Memo, meta: Mapping, previous: Mapping, fields: dict | None) -> None:
    """A metric deleted meanwhile needs no status; any other failure of the write is retried by kopf."""
    if not fields:
        return
    try:
        memo.write_status(meta["namespace"], meta["name"], conditions.merge_patch(previous, fields))
    except failures.RetryableFailure as failure:
        if failure.reason != "NotFound":
            raise kopf.TemporaryError(failure.message, delay=failure.delay) from failure
    except failures.PermanentFailure as failure:  # RBAC: kopf retries with its backoff, and says so
        raise kopf.TemporaryError(failure.message, delay=DELETE_RETRY_SECONDS) from failure


def _settling_quietly(outcome: Outcome, retry: int, status: Mapping, generation: int | None) -> bool:
    """Whether this pass may leave status as it is: the target is applying the change (no failure), this is
    the first look, the next comes within QUIET_SECONDS, and kstatus (and `kubectl wait`) already see the
    metric in progress. A function that settles within a second then costs no more writes than one that is
    Active at once."""
    return (outcome.settling and retry == 0 and outcome.retry_delay is not None
            and outcome.retry_delay <= QUIET_SECONDS and conditions.in_progress(status, generation))


def _target(memo: kopf.Memo, spec: Mapping) -> Target:
    """The one place that picks where a metric deploys: a Label Studio project, or a Lambda function of its own."""
    return memo.targets[metric_spec.target_name(spec)]


def resume_metric(
    body: kopf.Body, spec: kopf.Spec, meta: kopf.Meta, status: kopf.Status,
    patch: kopf.Patch, memo: kopf.Memo, logger: kopf.Logger, retry: int = 0, **_,
) -> None:
    """The operator (re)started: a metric Ready as specified needs no AWS call; the resync checks for drift."""
    if conditions.is_true(status, "Ready", meta.get("generation")) and _target(memo, spec).deployed_as_specified(
            _request(spec, meta, status, memo, retry)):
        ready = conditions.find(status, "Ready")
        prometheus.METRICS.record(meta["uid"], meta["namespace"], meta["name"], "Ready", ready.get("reason", ""))
        prometheus.METRICS.invoked(meta["uid"], (status.get("usage") or {}).get("invocations"))
        return
    reconcile_metric(body=body, spec=spec, meta=meta, status=status, patch=patch, memo=memo, logger=logger, retry=retry,
                     looking_again=True)


def resync_metric(
    body: kopf.Body, spec: kopf.Spec, meta: kopf.Meta, status: kopf.Status,
    patch: kopf.Patch, memo: kopf.Memo, logger: kopf.Logger, retry: int = 0, **_,
) -> None:
    """Drift repair and a look at the function's errors and usage, each Ready metric at its own moment of
    their intervals (controller/periodic.py calls this when one is due). A metric not Ready at its
    generation is the change handlers' (kopf retries them until Ready, and Stalled waits for the user): a
    resync beside them would only read again, and rewrite the status of a metric waiting for its turn at
    the quota."""
    generation, uid = meta.get("generation"), meta["uid"]
    if stalled_outside(status, generation) and retry == 0:
        if memo.stall_looks.due(uid):
            memo.stall_looks.again(uid)  # the next look further away, unless this one ends the Stall
            reconcile_metric(body=body, spec=spec, meta=meta, status=status, patch=patch, memo=memo, logger=logger,
                             looking_again=True)
        return
    if not conditions.is_true(status, "Ready", generation) and retry == 0:
        return  # (a retry is the resync's own repair, still being applied)
    if memo.resync.take(uid):
        reconcile_metric(body=body, spec=spec, meta=meta, status=status, patch=patch, memo=memo, logger=logger,
                         retry=retry, drift_check=True)
    if memo.error_watch.wanted(uid):
        _check_function_errors(body, spec, meta, status, patch, memo)
    if memo.error_watch.enabled and memo.usage_looks.take(uid):
        _check_usage(body, spec, meta, status, patch, memo)


def stalled_outside(status: Mapping, generation: int | None) -> bool:
    """Whether the metric is Stalled at its generation for a reason outside the resource (failures.py): an IAM
    policy, a Label Studio key, a ConfigMap... which the operator looks at again by itself."""
    return conditions.is_true(status, "Stalled", generation) and \
        conditions.find(status, "Stalled").get("reason") in failures.OUTSIDE_THE_RESOURCE


def periodic_work_due(memo: kopf.Memo, uid: str, summary: periodic.Summary) -> bool:
    """Whether resync_metric has anything to do for this metric now: a repair of its own back at its time; a
    look again at a Stall from outside, at its time; else, for a Ready metric left alone for RESYNC_IDLE_SECONDS
    (its change handlers go first), a check due."""
    if uid in memo.periodic_attempts:
        return memo.resync.due(uid)
    if summary.stalled_outside:
        return memo.stall_looks.due(uid)
    if not summary.ready or time.monotonic() - summary.changed < min(RESYNC_IDLE_SECONDS, memo.config.resync_seconds):
        return False
    return (memo.resync.due(uid) or memo.error_watch.wanted(uid)
            or (memo.error_watch.enabled and memo.usage_looks.due(uid)))


def look_after_metric(memo: kopf.Memo, uid: str, summary: periodic.Summary) -> None:
    """resync_metric on the metric as the apiserver has it now, outside kopf's handlers (outside_kopf.py); a pass
    that must come back scheduled again."""
    prometheus.PERIODIC_LOOKS.inc()
    look = outside_kopf.start(memo, uid, summary.namespace, summary.name)
    if look is None:
        return
    attempt = memo.periodic_attempts.get(uid, 0)
    try:
        resync_metric(**outside_kopf.handler_kwargs(look, attempt))
        memo.periodic_attempts.pop(uid, None)
    except kopf.TemporaryError as again:  # drift being repaired: Lambda is applying it, or the quota's turn
        memo.periodic_attempts[uid] = attempt + 1
        memo.resync.again_in(uid, again.delay if again.delay is not None else failures.backoff(attempt))
    finally:
        if (write_delay := outside_kopf.finish(memo, look)) is not None:
            memo.resync.again_in(uid, write_delay)


async def metric_summaries(meta: kopf.Meta, status: kopf.Status, **_) -> dict:
    """Index: uid -> what the periodic work needs to know of a metric before it reads it."""
    ready = conditions.is_true(status, "Ready", meta.get("generation"))
    return {meta["uid"]: periodic.Summary(meta["namespace"], meta["name"], ready, time.monotonic(),
                                          stalled_outside(status, meta.get("generation")))}


async def start_periodic_work(memo: kopf.Memo, metric_summaries: kopf.Index, **_) -> None:
    memo.periodic_attempts = {}
    work = periodic.PeriodicWork(metric_summaries, due=functools.partial(periodic_work_due, memo),
                                 work=functools.partial(look_after_metric, memo), active=memo.active_replica.active,
                                 threads=PERIODIC_THREADS)
    memo.periodic_task = asyncio.create_task(work.run(), name="periodic work on Ready metrics")


async def stop_periodic_work(memo: kopf.Memo, **_) -> None:
    await startup.cancelled(memo.get("periodic_task"))


def _check_function_errors(body: kopf.Body, spec: Mapping, meta: Mapping, status: Mapping, patch: kopf.Patch,
                           memo: kopf.Memo) -> None:
    target, uid, watch = _target(memo, spec), meta["uid"], memo.error_watch
    reader = target.error_reader(_request(spec, meta, status, memo))
    if reader is None:
        return
    previous = status.get("functionErrors")
    # No lock: the look changes nothing but status, whose write is made only if the metric is unchanged since
    # it was read; a change to the metric never waits for a slow read of its logs.
    check = watch.check(uid, reader, previous)
    if check.status is not None and check.status != previous:
        patch.status["functionErrors"] = check.status
    _post(memo, body, check.events)
    prometheus.function_errors_seen(target.name, check.new_errors)


def _check_usage(body: kopf.Body, spec: Mapping, meta: Mapping, status: Mapping, patch: kopf.Patch,
                 memo: kopf.Memo) -> None:
    """How the function is used: status.usage (and an Event when nobody invoked it for a day), or the
    agreement its Label Studio project computes (status.labelStudio.agreement)."""
    reader = _target(memo, spec).usage_reader(_request(spec, meta, status, memo))
    if reader is None:
        return
    previous = status.get(reader.field)
    look = reader.look(previous)  # no lock, as for the errors: a read, and a conditional status write
    if look.status != (previous or {}):
        patch.status[reader.field] = look.status
    _post(memo, body, look.events)
    prometheus.METRICS.invoked(meta["uid"], look.status.get("invocations"))


def delete_metric(
    body: kopf.Body, spec: kopf.Spec, meta: kopf.Meta, status: kopf.Status, memo: kopf.Memo, retry: int = 0, **_,
) -> None:
    if "admission" in memo:
        memo.admission.forget(meta["uid"])
    try:
        with _lock_for(memo, meta["uid"]):
            latest = _status_after_passes(memo, meta, status)
            events = _target(memo, spec).delete(_request(spec, meta, latest, memo))
    except failures.InProgress as waiting:  # the quota's turn, say: no error, no Event
        log_setup.RETRY_LEVELS.note(meta["uid"], waiting.message, logging.INFO)
        raise kopf.TemporaryError(waiting.message, delay=waiting.delay) from waiting
    except failures.ReconcileFailure as failure:  # one Warning for the episode, however many retries it takes
        _post(memo, body, memo.episodes.events(meta["uid"], Phase.RECONCILING, failure.reason,
                                               [Event(failure.reason, failure.message, warning=True)]))
        message = f"{failure.message}; the resource is kept until this succeeds (or set spec.deletionPolicy: Retain)"
        if not isinstance(failure, failures.RetryableFailure):  # AccessDenied, say: a person must act (ERROR)
            delay = DELETE_RETRY_SECONDS
        else:  # AWS's Retry-After when it gave one; else the same growing, jittered backoff as an update
            delay = failure.delay if failure.delay is not None else failures.backoff(retry)
            log_setup.RETRY_LEVELS.note(meta["uid"], message, logging.WARNING)
        raise kopf.TemporaryError(message, delay=delay) from failure
    _post(memo, body, events)
    with _locks_guard:  # nothing about a deleted metric outlives it
        memo.locks.pop(meta["uid"], None)
    memo.resync.forget(meta["uid"])
    memo.usage_looks.forget(meta["uid"])
    memo.error_watch.forget(meta["uid"])
    memo.episodes.forget(meta["uid"])
    memo.stall_looks.forget(meta["uid"])
    memo.get("periodic_attempts", {}).pop(meta["uid"], None)
    prometheus.METRICS.forget(meta["uid"])


def _status_after_passes(memo: kopf.Memo, meta: Mapping, status: Mapping) -> Mapping:
    """The metric's status as the apiserver has it once no pass runs on it: a pass outside kopf (a queued one) that
    ran when the deletion came may have recorded a function after kopf's event was read."""
    if "admission" not in memo:
        return status
    found = memo.read_metric(meta["namespace"], meta["name"])
    if found is None or found["metadata"].get("uid") != meta["uid"]:
        return status
    return found.get("status") or {}


async def metrics_by_configmap(namespace: str | None, name: str, spec: kopf.Spec, annotations: Mapping,
                               **_) -> dict | None:
    """Index: (namespace, ConfigMap name) -> (metric, the ConfigMap revision it last saw) for each metric using it.
    A coroutine, as every handler kopf calls on each event should be: a plain function waits for one of kopf's
    threads, which a burst of metrics keeps busy, with the event in memory."""
    ref = code_from.reference(spec)
    return {(namespace, ref[0]): (name, annotations.get(code_from.REVISION_ANNOTATION))} if ref else None


def configmap_changed(
    type: str, body: kopf.Body, namespace: str | None, name: str,
    metrics_by_configmap: kopf.Index, memo: kopf.Memo, logger: kopf.Logger, **_,
) -> None:
    """A ConfigMap holding metric code changed: mark each metric using it, which redeploys it."""
    if namespace is None:  # ConfigMaps are namespaced; kopf's signature allows cluster objects
        return
    revision = code_from.DELETED if type == "DELETED" else body.metadata["resourceVersion"]
    for metric, seen in metrics_by_configmap.get((namespace, name), []):
        if seen != revision:  # on a restart every ConfigMap is listed again: unchanged ones write nothing
            logger.info("ConfigMap %s/%s is at %s: updating metric %s", namespace, name, revision, metric)
            memo.mark_revision(namespace, metric, code_from.REVISION_ANNOTATION, revision)


def _request(spec: Mapping, meta: Mapping, status: Mapping, memo: kopf.Memo, attempt: int = 0, urgent: bool = False,
             written: dict | None = None) -> Request:
    """The metric as a target sees it; what the target writes mid-pass also lands in `written`."""
    annotations = meta.get("annotations") or {}
    namespace, name, generation = meta["namespace"], meta["name"], meta.get("generation")

    def write_status(fields: dict) -> None:
        if not conditions.in_progress(status, generation):  # a new metric: kstatus sees it in progress from now
            fields = {**conditions.status_for(DEPLOYING, generation, status), **fields}
        memo.write_status(namespace, name, fields)
        if written is not None:
            written.update(fields)

    return Request(
        spec=dict(spec),
        owner=Owner(memo.config.cluster_id, namespace, name, meta["uid"]),
        read_configmap=memo.read_configmap,
        status=status,
        adopt=annotations.get(crd.ADOPT_ANNOTATION, "").lower() == "true",
        write_status=write_status,
        attempt=attempt,
        created=meta.get("creationTimestamp"),
        metric_exists=memo.get("metric_exists"),
        urgent=urgent,
    )


def _lock_for(memo: kopf.Memo, uid: str) -> threading.Lock:
    """One reconcile at a time per resource: the periodic work runs beside the change handlers."""
    with _locks_guard:
        return memo.locks.setdefault(uid, threading.Lock())


def _post(memo: kopf.Memo, body: Mapping, events: list[Event]) -> None:
    for event in events:
        memo.post_event(body, event)
