"""What the operator sets up once: its login to the apiserver, kopf's settings, the clients every handler
shares through kopf's memo (Lambda, CloudWatch Logs, Label Studio, the apiserver), the health endpoints, and
the CRD checked (and brought up to date) before any metric is handled."""

import asyncio
import contextlib
import dataclasses
import logging
import os
import warnings
from collections.abc import Callable, Mapping

import aiohttp
import kopf

from agreement_operator import crd, failures, label_studio_target, lambda_target
from agreement_operator.config import Config
from agreement_operator.controller import crd_upkeep, health, kopf_storage, kube, peering, prometheus
from agreement_operator.controller.episodes import Episodes
from agreement_operator.controller.error_watch import ErrorWatch
from agreement_operator.controller.schedule import Backoff, Schedule
from agreement_operator.target import Event, Target

logger = logging.getLogger(__name__)
# The first look again at a metric Stalled by something outside it (an IAM policy fixed a little later).
STALL_LOOK_FIRST_SECONDS = 10.0


def post_with_kopf(body: Mapping, event: Event) -> None:
    post = kopf.warn if event.warning else kopf.info
    post(body, reason=event.reason, message=event.message)


def poster_outside_kopf(api: kube.KubeAPI) -> Callable[[Mapping, Event], None]:
    """Events from work that runs outside kopf's handlers, where kopf's posting has no queue to post to.
    As with kopf's, an Event that cannot be posted is logged and does not fail the work."""
    def post(body: Mapping, event: Event) -> None:
        try:
            api.post_event(body, event.reason, event.message, event.warning)
        except failures.ReconcileFailure as failure:
            logger.warning("could not post the Event %s (%s): %s", event.reason, event.message, failure.message)
    return post


def connection(**kwargs) -> kopf.ConnectionInfo | None:
    """In a pod, its ServiceAccount; elsewhere the kubeconfig (a token, a client certificate or a password).

    kopf's own login functions, not the official client's: that library would cost every
    operator process about 60 MiB.
    """
    info = kopf.login_with_service_account(**kwargs)
    if info is not None and (server := in_cluster_server(os.environ)):
        info = dataclasses.replace(info, server=server)
    return info or kopf.login_with_kubeconfig(**kwargs)


async def log_in(memo: kopf.Memo, **kwargs) -> kopf.AiohttpSession | None:
    """kopf's session; the operator's own calls (kube.py) use the same credentials."""
    info = connection(**kwargs)
    if info is None:
        return None
    memo.kube.log_in(kube.Credentials.from_kopf(info))
    config: Config = memo.config
    with warnings.catch_warnings():  # kopf deprecates its basic-auth helper in favour of aiohttp's
        warnings.simplefilter("ignore", DeprecationWarning)
        auth = info.as_aiohttp_basic_auth()
    session = aiohttp.ClientSession(
        # kopf's own session has no limit on connections: a burst of 1,000 metrics opened a TLS
        # connection per concurrent request (~70 KiB of buffers each, and OpenSSL's besides) and
        # took the pod past its memory limit. Enough for the watch streams (metrics, ConfigMaps,
        # CRDs, namespaces, peering; per namespace in namespace-list mode) and one per worker.
        connector=aiohttp.TCPConnector(
            limit=config.workers + 8 + 2 * len(config.namespaces), ssl=info.as_ssl_context()),
        headers=info.as_http_headers(), auth=auth, proxy=info.proxy_url, trust_env=info.trust_env,
    )
    return kopf.AiohttpSession(server=info.server, default_namespace=info.default_namespace,
                               priority=info.priority, expiration=info.expiration, aiohttp_session=session)


def in_cluster_server(env: Mapping[str, str]) -> str | None:
    """The apiserver as client-go's in-cluster config finds it: KUBERNETES_SERVICE_HOST and _PORT,
    which the kubelet sets in every pod. kopf would dial https://kubernetes.default.svc, a name a pod
    on the host network (the default DNS policy) cannot resolve."""
    host, port = env.get("KUBERNETES_SERVICE_HOST"), env.get("KUBERNETES_SERVICE_PORT")
    if not host or not port:
        return None
    return f"https://[{host}]:{port}" if ":" in host else f"https://{host}:{port}"


def configure(settings: kopf.OperatorSettings, memo: kopf.Memo, **_) -> None:
    config: Config = memo.config
    kopf_storage.configure(settings)
    # Events name this operator, not "kopf".
    settings.posting.reporting_component = kube.REPORTING_COMPONENT
    # Only ConfigMaps labelled as metric code reach the operator (filtered by the apiserver).
    settings.watching.label_selectors["", "v1", "configmaps"] = f"{crd.CODE_LABEL}={crd.CODE_LABEL_VALUE}"
    # A pass never sleeps on Lambda, so a handler holds a thread only for a few API calls. kopf's
    # default, min(32, CPUs + 4), follows the node's CPUs rather than the pod's limit.
    settings.execution.max_workers = config.workers
    # As many connections to Lambda and to the apiserver as threads that may use them at once.
    memo.targets = targets(config)
    memo.error_watch = ErrorWatch(config.function_errors_seconds)
    memo.resync = Schedule(config.resync_seconds)
    # Usage rides on the ticks of the error looks, once per their interval.
    memo.usage_looks = Schedule(config.function_errors_seconds)
    memo.kube = kube.KubeAPI()
    memo.crd_upkeep = crd_upkeep.CrdUpkeep(memo.kube, config.manage_crd)
    memo.read_configmap = memo.kube.read_configmap
    memo.mark_revision = memo.kube.mark_revision
    memo.read_metric = memo.kube.read_metric
    memo.metric_exists = lambda namespace, name: memo.read_metric(namespace, name) is not None
    memo.post_event = post_with_kopf
    memo.post_event_outside_kopf = poster_outside_kopf(memo.kube)
    # Every status write, from kopf's handlers and from the periodic work, checked for pruned fields.
    memo.write_status = crd_upkeep.status_writer(memo.kube, memo.crd_upkeep, memo.post_event_outside_kopf)
    memo.active_replica = peering.ActiveReplica(memo.get("peering"), memo.kube.peering_status)
    memo.locks = {}
    memo.episodes = Episodes()
    # Metrics Stalled by something outside them: looked at again soon, then at most once per resync interval.
    memo.stall_looks = Backoff(min(STALL_LOOK_FIRST_SECONDS, config.resync_seconds), config.resync_seconds)
    if config.metrics_port:
        try:
            prometheus.serve(config.metrics_port, config.metrics_path)
        except OSError as error:  # fatal for kopf's startup: the operator stops with this line
            raise kopf.PermanentError(f"cannot serve metrics on port {config.metrics_port}: {error}; set "
                                      "AGREEMENT_OPERATOR_METRICS_PORT to a free port, or 0 for none") from error


async def serve_health(memo: kopf.Memo, **_) -> None:
    """/healthz and /readyz, up before the operator waits for its CRD (an operator waiting is alive, not ready)."""
    if memo.get("health_url"):
        memo.health_server = health.HealthServer(memo.health_url, memo)
        try:
            await memo.health_server.start()
        except OSError as error:  # fatal for kopf's startup: the operator stops with this line
            raise kopf.PermanentError(f"cannot serve health checks at {memo.health_url}: {error}") from error


async def wait_for_current_crd(memo: kopf.Memo, **kwargs) -> None:
    """No metric is handled (nor written to) until the cluster's CRD can hold what the operator writes; then
    the CRD is checked again every few seconds while the operator runs. kopf logs in only once its startup
    is done, so this logs in by itself, with the same credentials."""
    info = connection(**kwargs)
    if info is not None:
        memo.kube.log_in(kube.Credentials.from_kopf(info))
    await memo.crd_upkeep.wait_until_current()
    stop = memo.get("stop_flag")
    memo.crd_task = asyncio.create_task(memo.crd_upkeep.keep_current(stop.set if stop else lambda: None),
                                        name="the CRD kept current")


async def stop_background_work(memo: kopf.Memo, **_) -> None:
    """The CRD checks and the health endpoints stop with the operator."""
    await cancelled(memo.get("crd_task"))
    if (server := memo.get("health_server")) is not None:
        await server.stop()


async def cancelled(task: asyncio.Task | None) -> None:
    """A task of the operator's own, cancelled and awaited (nothing when there is none)."""
    if task is not None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def targets(config: Config) -> dict[str, Target]:
    """Each target by name, with the clients it shares across metrics (their calls counted); one this
    operator has no connection for says what to set."""
    built = (lambda_target.build(config, prometheus.instrument, prometheus.watch_budgets),
             label_studio_target.build(config, prometheus.label_studio_request))
    return {target.name: target for target in built}
