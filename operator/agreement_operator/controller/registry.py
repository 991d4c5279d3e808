"""Every handler of the operator, registered with kopf: login, startup and cleanup, the AgreementMetric
handlers, the indexes, and the ConfigMaps that hold metric code."""

from collections.abc import Awaitable, Callable

import kopf

from agreement_operator import crd
from agreement_operator.controller import admitted_handlers, crd_deletion, handlers, startup

_RESOURCE = (crd.GROUP, crd.VERSION, crd.PLURAL)


def build_registry() -> kopf.OperatorRegistry:
    registry = kopf.OperatorRegistry()
    # A registry of our own starts without kopf's default login: in-cluster or kubeconfig.
    kopf.on.login(registry=registry)(startup.log_in)
    # kopf runs startup handlers one at a time, in this order: the clients, the health endpoints, the CRD
    # (no metric is handled until it is current), then the periodic work, which needs the clients.
    kopf.on.startup(registry=registry)(startup.configure)
    kopf.on.startup(registry=registry)(admitted_handlers.start_queued_passes)
    kopf.on.startup(registry=registry)(startup.serve_health)
    kopf.on.startup(registry=registry)(crd_deletion.watch_for_crd_deletion)
    kopf.on.startup(registry=registry)(startup.wait_for_current_crd)
    # kopf passes indexes as keyword arguments that its handler protocol does not name.
    kopf.on.startup(registry=registry)(handlers.start_periodic_work)  # type: ignore[arg-type]
    kopf.on.cleanup(registry=registry)(handlers.stop_periodic_work)
    kopf.on.cleanup(registry=registry)(admitted_handlers.stop_queued_passes)
    kopf.on.cleanup(registry=registry)(startup.stop_background_work)
    # The handlers keep their ids, which kopf's annotations on every metric name.
    def change_handler(handler: Callable[..., None]) -> Callable[..., Awaitable[None]]:
        return admitted_handlers.admitted(handlers.status_written_by_the_operator(handler))
    for on_change in (kopf.on.create, kopf.on.update):
        on_change(*_RESOURCE, id="reconcile_metric", registry=registry)(change_handler(handlers.reconcile_metric))
    kopf.on.resume(*_RESOURCE, id="resume_metric", registry=registry)(change_handler(handlers.resume_metric))
    kopf.on.delete(*_RESOURCE, registry=registry)(handlers.delete_metric)
    kopf.index(*_RESOURCE, registry=registry)(handlers.metrics_by_configmap)
    kopf.index(*_RESOURCE, registry=registry)(handlers.metric_summaries)
    kopf.on.event("", "v1", "configmaps", registry=registry)(handlers.configmap_changed)  # type: ignore[arg-type]
    return registry
