"""kopf handlers: they read the resource, call reconcile, and write status and Events back."""

import threading
from collections.abc import Callable, Mapping

import kopf

from agreement_operator import conditions, configmap_code, crd, errors, kopf_storage, kube, lambda_api, reconcile
from agreement_operator.config import Config
from agreement_operator.tags import Owner

_RESOURCE = (crd.GROUP, crd.VERSION, crd.PLURAL)
# AWS refused to delete (e.g. AccessDenied): the finalizer holds the resource, so try again now and then.
DELETE_RETRY_SECONDS = 60.0
_locks_guard = threading.Lock()

EventPoster = Callable[[Mapping, reconcile.Event], None]
NameRecorder = Callable[[str, str, list[str]], None]


def post_with_kopf(body: Mapping, event: reconcile.Event) -> None:
    post = kopf.warn if event.warning else kopf.info
    post(body, reason=event.reason, message=event.message)


def configure(settings: kopf.OperatorSettings, memo: kopf.Memo, **_) -> None:
    config: Config = memo.config
    kopf_storage.configure(settings)
    # Events name this operator, not "kopf".
    settings.posting.reporting_component = "agreement-operator"
    # Only ConfigMaps labelled as metric code reach the operator (filtered by the apiserver).
    settings.watching.label_selectors["", "v1", "configmaps"] = f"{crd.CODE_LABEL}={crd.CODE_LABEL_VALUE}"
    memo.functions = lambda_api.LambdaFunctions(lambda_api.make_client(config.region, config.endpoint_url))
    memo.read_configmap = kube.read_configmap
    memo.record_names = kube.write_function_names
    memo.post_event = post_with_kopf
    memo.locks = {}


def reconcile_metric(
    body: kopf.Body, spec: kopf.Spec, meta: kopf.Meta, status: kopf.Status,
    patch: kopf.Patch, memo: kopf.Memo, logger: kopf.Logger, **_,
) -> None:
    generation = meta.get("generation")
    try:
        with _lock_for(memo, meta["uid"]):
            outcome = reconcile.reconcile(_request(spec, meta, status, memo), memo.functions, memo.config)
    except Exception as error:  # a bug: say so on the resource instead of leaving stale conditions, then let kopf retry
        internal = reconcile.Outcome(reconcile.Phase.RECONCILING, "InternalError", f"{type(error).__name__}: {error}")
        patch.status.update(conditions.status_for(internal, generation, status))
        raise
    patch.status.update(conditions.status_for(outcome, generation, status))
    _post(memo, body, outcome.events)
    logger.info("%s: %s", outcome.reason, outcome.message)
    if outcome.retry_delay is not None:
        raise kopf.TemporaryError(outcome.message, delay=outcome.retry_delay)


def resync_metric(
    body: kopf.Body, spec: kopf.Spec, meta: kopf.Meta, status: kopf.Status,
    patch: kopf.Patch, memo: kopf.Memo, logger: kopf.Logger, **_,
) -> None:
    """Periodic drift repair; a metric Stalled at this generation waits for the user instead."""
    if conditions.is_true(status, "Stalled", meta.get("generation")):
        return
    reconcile_metric(body=body, spec=spec, meta=meta, status=status, patch=patch, memo=memo, logger=logger)


def delete_metric(
    body: kopf.Body, spec: kopf.Spec, meta: kopf.Meta, status: kopf.Status, memo: kopf.Memo, **_,
) -> None:
    request = _request(spec, meta, status, memo)
    try:
        with _lock_for(memo, meta["uid"]):
            events = reconcile.delete(request, memo.functions)
    except errors.ReconcileFailure as failure:
        _post(memo, body, [reconcile.Event(failure.reason, failure.message, warning=True)])
        delay = failure.delay if isinstance(failure, errors.RetryableFailure) else DELETE_RETRY_SECONDS
        raise kopf.TemporaryError(
            f"{failure.message}; the resource is kept until this succeeds (or set spec.deletionPolicy: Retain)",
            delay=delay,
        ) from failure
    _post(memo, body, events)
    with _locks_guard:
        memo.locks.pop(meta["uid"], None)


def metrics_by_configmap(namespace: str | None, name: str, spec: kopf.Spec, **_) -> dict | None:
    """Index: (namespace, ConfigMap name) -> the metrics whose code lives in it."""
    ref = configmap_code.reference(spec)
    return {(namespace, ref[0]): name} if ref else None


def configmap_changed(
    type: str, body: kopf.Body, namespace: str | None, name: str,
    metrics_by_configmap: kopf.Index, logger: kopf.Logger, **_,
) -> None:
    """A ConfigMap holding metric code changed: mark each metric using it, which redeploys it."""
    if namespace is None:  # ConfigMaps are namespaced; kopf's signature allows cluster objects
        return
    revision = configmap_code.DELETED if type == "DELETED" else body.metadata["resourceVersion"]
    for metric in metrics_by_configmap.get((namespace, name), []):
        logger.info("ConfigMap %s/%s is at %s: updating metric %s", namespace, name, revision, metric)
        kube.mark_revision(namespace, metric, configmap_code.REVISION_ANNOTATION, revision)


def _request(spec: Mapping, meta: Mapping, status: Mapping, memo: kopf.Memo) -> reconcile.Request:
    annotations = meta.get("annotations") or {}
    namespace, name = meta["namespace"], meta["name"]
    return reconcile.Request(
        spec=dict(spec),
        owner=Owner(memo.config.cluster_id, namespace, name, meta["uid"]),
        adopt=annotations.get(crd.ADOPT_ANNOTATION, "").lower() == "true",
        deployed_name=status.get("functionName"),
        read_configmap=memo.read_configmap,
        previous_tests=status.get("tests"),
        owned_names=tuple(status.get("functionNames") or ()),
        record_names=lambda names: memo.record_names(namespace, name, names),
    )


def _lock_for(memo: kopf.Memo, uid: str) -> threading.Lock:
    """One reconcile at a time per resource: the resync timer runs beside the change handlers."""
    with _locks_guard:
        return memo.locks.setdefault(uid, threading.Lock())


def _post(memo: kopf.Memo, body: Mapping, events: list[reconcile.Event]) -> None:
    for event in events:
        memo.post_event(body, event)


def build_registry(resync_seconds: float) -> kopf.OperatorRegistry:
    """All handlers, registered against the AgreementMetric resource; resync interval from config."""
    registry = kopf.OperatorRegistry()
    # A registry of our own starts without kopf's default login: in-cluster or kubeconfig.
    kopf.on.login(registry=registry)(kopf.login_via_client)
    kopf.on.startup(registry=registry)(configure)
    for on_change in (kopf.on.create, kopf.on.update, kopf.on.resume):
        on_change(*_RESOURCE, registry=registry)(reconcile_metric)
    kopf.on.delete(*_RESOURCE, registry=registry)(delete_metric)
    kopf.index(*_RESOURCE, registry=registry)(metrics_by_configmap)
    # kopf passes indexes as keyword arguments that its handler protocol does not name.
    kopf.on.event("", "v1", "configmaps", registry=registry)(configmap_changed)  # type: ignore[arg-type]
    kopf.timer(
        *_RESOURCE, registry=registry, interval=resync_seconds, initial_delay=resync_seconds,
        # Leave freshly changed resources to the change handlers.
        idle=min(30.0, resync_seconds),
    )(resync_metric)
    return registry
