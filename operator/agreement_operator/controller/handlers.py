"""kopf handlers: they read the resource, call reconcile, and write status and Events back."""

import threading
import time
from collections.abc import Mapping

import kopf

from agreement_operator import crd, failures
from agreement_operator.config import Config
from agreement_operator.controller import conditions, prometheus, startup
from agreement_operator.metric import code_from
from agreement_operator.metric import spec as metric_spec
from agreement_operator.metric.owner import Owner
from agreement_operator.target import Event, Outcome, Phase, Request, Target

_RESOURCE = (crd.GROUP, crd.VERSION, crd.PLURAL)
# AWS refused to delete (e.g. AccessDenied): the finalizer holds the resource, so try again now and then.
DELETE_RETRY_SECONDS = 60.0
# A first wait for Lambda (or for the quota) this short writes no Reconciling status.
QUIET_SECONDS = 2.0
# Drift checks wait until a metric was left alone this long: its change handlers go first.
RESYNC_IDLE_SECONDS = 10.0
_locks_guard = threading.Lock()
DEPLOYING = Outcome(Phase.RECONCILING, "Deploying", "deploying the metric")


def reconcile_metric(
    body: kopf.Body, spec: kopf.Spec, meta: kopf.Meta, status: kopf.Status,
    patch: kopf.Patch, memo: kopf.Memo, logger: kopf.Logger, retry: int = 0, reason: str = "", **_,
) -> None:
    """`reason`: kopf's cause; "update" (a person changed the metric) goes ahead of bulk work at AWS."""
    generation, target = meta.get("generation"), _target(memo, spec)
    started = time.monotonic()
    written: dict = {}  # what the target writes mid-pass
    request = _request(spec, meta, status, memo, retry, urgent=reason == "update", written=written)
    try:
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
    if any(current.get(key) != value for key, value in new_status.items()) and not _settling_quietly(
            outcome, retry, current, generation):
        patch.status.update(new_status)
        logger.info("%s: %s", outcome.reason, outcome.message)
    _post(memo, body, outcome.events)
    if outcome.retry_delay is not None:
        raise kopf.TemporaryError(outcome.message, delay=outcome.retry_delay)


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
    reconcile_metric(body=body, spec=spec, meta=meta, status=status, patch=patch, memo=memo, logger=logger, retry=retry)


def resync_metric(
    body: kopf.Body, spec: kopf.Spec, meta: kopf.Meta, status: kopf.Status,
    patch: kopf.Patch, memo: kopf.Memo, logger: kopf.Logger, retry: int = 0, **_,
) -> None:
    """Drift repair and a look at the function's errors, each Ready metric at its own moment of their
    intervals. A metric not Ready at its generation is the change handlers' (kopf retries them until
    Ready, and Stalled waits for the user): a resync beside them would only read again, and rewrite the
    status of a metric waiting for its turn at the quota."""
    generation, uid = meta.get("generation"), meta["uid"]
    if not conditions.is_true(status, "Ready", generation):
        return
    if memo.resync.take(uid):
        reconcile_metric(body=body, spec=spec, meta=meta, status=status, patch=patch, memo=memo, logger=logger,
                         retry=retry)
    if memo.error_watch.wanted(uid):
        _check_function_errors(body, spec, meta, status, patch, memo)
    if memo.error_watch.enabled and memo.usage_looks.take(uid):
        _check_usage(body, spec, meta, status, patch, memo)


def _check_function_errors(body: kopf.Body, spec: Mapping, meta: Mapping, status: Mapping, patch: kopf.Patch,
                           memo: kopf.Memo) -> None:
    target, uid, watch = _target(memo, spec), meta["uid"], memo.error_watch
    reader = target.error_reader(_request(spec, meta, status, memo))
    if reader is None:
        return
    previous = status.get("functionErrors")
    with _lock_for(memo, uid):
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
    with _lock_for(memo, meta["uid"]):
        look = reader.look(previous)
    if look.status != (previous or {}):
        patch.status[reader.field] = look.status
    _post(memo, body, look.events)
    prometheus.METRICS.invoked(meta["uid"], look.status.get("invocations"))


def delete_metric(
    body: kopf.Body, spec: kopf.Spec, meta: kopf.Meta, status: kopf.Status, memo: kopf.Memo, retry: int = 0, **_,
) -> None:
    try:
        with _lock_for(memo, meta["uid"]):
            events = _target(memo, spec).delete(_request(spec, meta, status, memo))
    except failures.InProgress as waiting:  # the quota's turn, say: no error, no Event
        raise kopf.TemporaryError(waiting.message, delay=waiting.delay) from waiting
    except failures.ReconcileFailure as failure:
        _post(memo, body, [Event(failure.reason, failure.message, warning=True)])
        if not isinstance(failure, failures.RetryableFailure):
            delay = DELETE_RETRY_SECONDS
        else:  # AWS's Retry-After when it gave one; else the same growing, jittered backoff as an update
            delay = failure.delay if failure.delay is not None else failures.backoff(retry)
        raise kopf.TemporaryError(
            f"{failure.message}; the resource is kept until this succeeds (or set spec.deletionPolicy: Retain)",
            delay=delay,
        ) from failure
    _post(memo, body, events)
    with _locks_guard:  # nothing about a deleted metric outlives it
        memo.locks.pop(meta["uid"], None)
    memo.resync.forget(meta["uid"])
    memo.usage_looks.forget(meta["uid"])
    memo.error_watch.forget(meta["uid"])
    prometheus.METRICS.forget(meta["uid"])


def metrics_by_configmap(namespace: str | None, name: str, spec: kopf.Spec, annotations: Mapping, **_) -> dict | None:
    """Index: (namespace, ConfigMap name) -> (metric, the ConfigMap revision it last saw) for each metric using it."""
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
    """One reconcile at a time per resource: the resync timer runs beside the change handlers."""
    with _locks_guard:
        return memo.locks.setdefault(uid, threading.Lock())


def _post(memo: kopf.Memo, body: Mapping, events: list[Event]) -> None:
    for event in events:
        memo.post_event(body, event)


def build_registry(config: Config) -> kopf.OperatorRegistry:
    """All handlers, registered against the AgreementMetric resource; the timer's tick from the config."""
    registry = kopf.OperatorRegistry()
    # A registry of our own starts without kopf's default login: in-cluster or kubeconfig.
    kopf.on.login(registry=registry)(startup.log_in)
    kopf.on.startup(registry=registry)(startup.configure)
    for on_change in (kopf.on.create, kopf.on.update):
        on_change(*_RESOURCE, registry=registry)(reconcile_metric)
    kopf.on.resume(*_RESOURCE, registry=registry)(resume_metric)
    kopf.on.delete(*_RESOURCE, registry=registry)(delete_metric)
    kopf.index(*_RESOURCE, registry=registry)(metrics_by_configmap)
    # kopf passes indexes as keyword arguments that its handler protocol does not name.
    kopf.on.event("", "v1", "configmaps", registry=registry)(configmap_changed)  # type: ignore[arg-type]
    # The timer ticks 60 times per resync interval and each metric's check is due once per interval
    # (see Schedule.take): the checks due within one tick go out together, so N metrics send bursts of
    # about N / 60 reads, under Lambda's 100 GetFunction/s up to ~6,000 metrics. The looks at
    # function errors ride on the same ticks: a tick of their own, shorter, would call the
    # handler of every metric more often, whether anything is due or not.
    tick = max(1.0, min(30.0, config.resync_seconds / 60))
    kopf.timer(
        *_RESOURCE, registry=registry, interval=tick, initial_delay=tick,
        idle=min(RESYNC_IDLE_SECONDS, config.resync_seconds),
    )(resync_metric)
    return registry
