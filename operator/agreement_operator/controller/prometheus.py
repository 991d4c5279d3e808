"""The operator's Prometheus metrics, and the HTTP endpoint that serves them.

What each series is, and its labels, is in one catalogue (controller/series.py); this module only counts.
"""

import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import prometheus_client
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector, CollectorRegistry

from agreement_operator.controller import series
from agreement_operator.lambda_target.aws_errors import THROTTLING_CODES
from agreement_operator.lambda_target.budget import Budget
from agreement_operator.target import Outcome

# The _created series double every counter's output for a timestamp nobody graphs.
prometheus_client.disable_created_metrics()
REGISTRY = CollectorRegistry()
PHASES = ("Ready", "Reconciling", "Stalled")
DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


def _counter(entry: series.Series) -> prometheus_client.Counter:
    return prometheus_client.Counter(entry.name, entry.meaning, entry.label_names, registry=REGISTRY)


def _family(entry: series.Series) -> GaugeMetricFamily | CounterMetricFamily:
    kind = GaugeMetricFamily if entry.kind == series.GAUGE else CounterMetricFamily
    return kind(entry.name, entry.meaning, labels=entry.label_names)


RECONCILES = _counter(series.RECONCILES)
RECONCILE_DURATION = prometheus_client.Histogram(
    series.RECONCILE_DURATION.name, series.RECONCILE_DURATION.meaning, series.RECONCILE_DURATION.label_names,
    buckets=DURATION_BUCKETS, registry=REGISTRY)
AWS_REQUESTS = _counter(series.AWS_REQUESTS)
AWS_THROTTLED = _counter(series.AWS_THROTTLED)
LABEL_STUDIO_REQUESTS = _counter(series.LABEL_STUDIO_REQUESTS)
SMOKE_TESTS = _counter(series.SMOKE_TESTS)
PERIODIC_LOOKS = _counter(series.PERIODIC_LOOKS)
FUNCTION_ERRORS = _counter(series.FUNCTION_ERRORS)
PASSES_WAITING = prometheus_client.Gauge(series.PASSES_WAITING.name, series.PASSES_WAITING.meaning,
                                         registry=REGISTRY)


@dataclass
class _Resource:
    namespace: str
    name: str
    phase: str
    reason: str
    invocations: int | None = None


class _Resources(Collector):
    """Every AgreementMetric this operator holds: how many in each phase, and a series of each."""

    def __init__(self) -> None:
        self._resources: dict[str, _Resource] = {}
        self._guard = threading.Lock()

    def record(self, uid: str, namespace: str, name: str, phase: str, reason: str) -> None:
        with self._guard:
            known = self._resources.get(uid)
            invocations = known.invocations if known else None
            self._resources[uid] = _Resource(namespace, name, phase, reason, invocations)

    def invoked(self, uid: str, invocations: int | None) -> None:
        with self._guard:
            if uid in self._resources:
                self._resources[uid].invocations = invocations

    def forget(self, uid: str) -> None:
        with self._guard:
            self._resources.pop(uid, None)

    def collect(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        with self._guard:
            resources = list(self._resources.values())
        phases = _family(series.BY_PHASE)
        for phase in PHASES:
            phases.add_metric([phase], [resource.phase for resource in resources].count(phase))
        yield phases
        ready, invoked = _family(series.METRIC_READY), _family(series.METRIC_INVOCATIONS)
        for resource in resources:
            ready.add_metric([resource.namespace, resource.name, resource.reason], float(resource.phase == "Ready"))
            if resource.invocations is not None:
                invoked.add_metric([resource.namespace, resource.name], resource.invocations)
        yield ready
        yield invoked


METRICS = _Resources()
REGISTRY.register(METRICS)


class _Budgets(Collector):
    """The operator's shares of AWS quotas (lambda_target/budget.py): rate, tokens, queue and waits of each."""

    def __init__(self) -> None:
        self.budgets: list[Budget] = []

    def collect(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        stats = [budget.stats() for budget in self.budgets]
        families = {"rate": _family(series.BUDGET_RATE), "configured": _family(series.BUDGET_CONFIGURED),
                    "tokens": _family(series.BUDGET_TOKENS), "queued": _family(series.BUDGET_QUEUED),
                    "waits": _family(series.BUDGET_WAITS), "wait_seconds": _family(series.BUDGET_WAIT_SECONDS)}
        for stat in stats:
            for field, family in families.items():
                family.add_metric([stat.name, stat.connection], getattr(stat, field))
        yield from families.values()


BUDGETS = _Budgets()
REGISTRY.register(BUDGETS)


def watch_queue(waiting: Callable[[], int]) -> None:
    PASSES_WAITING.set_function(waiting)


def watch_budgets(budgets: list[Budget]) -> None:
    BUDGETS.budgets = list(budgets)


def observe_reconcile(target: str, outcome: Outcome | None, seconds: float, resource: Mapping) -> None:
    """A pass of the resource (its metadata) ended with `outcome` (None: it raised, a bug)."""
    RECONCILE_DURATION.labels(target).observe(seconds)
    if outcome is None:
        RECONCILES.labels(target, "error", "InternalError").inc()
        return
    RECONCILES.labels(target, outcome.phase.value.lower(), outcome.reason).inc()
    METRICS.record(resource["uid"], resource["namespace"], resource["name"], outcome.phase.value, outcome.reason)
    ran = {event.reason for event in outcome.events} & {"SmokeTestsPassed", "SmokeTestsFailed"}
    tests = outcome.status.get("tests")
    if ran and tests:
        SMOKE_TESTS.labels("passed").inc(tests.get("passed", 0))
        SMOKE_TESTS.labels("failed").inc(tests.get("failed", 0))


def instrument(client, connection: str = "default"):
    """Count the calls of a boto3 client (of the AWS connection named): by operation and error code, and every
    throttled attempt."""
    service = client.meta.service_model.service_id.hyphenize()

    def after_call(http_response, parsed, model, **_) -> None:
        code = parsed.get("Error", {}).get("Code", "") if http_response.status_code >= 300 else ""
        AWS_REQUESTS.labels(service, model.name, code, connection).inc()

    def after_call_error(exception, **kwargs) -> None:
        operation = kwargs.get("event_name", "").rsplit(".", 1)[-1]
        AWS_REQUESTS.labels(service, operation, type(exception).__name__, connection).inc()

    def needs_retry(response, operation, **_) -> None:
        if response is not None and response[1].get("Error", {}).get("Code") in THROTTLING_CODES:
            AWS_THROTTLED.labels(service, operation.name, connection).inc()

    events = client.meta.events
    events.register(f"after-call.{service}", after_call)
    events.register(f"after-call-error.{service}", after_call_error)
    events.register(f"needs-retry.{service}", needs_retry)
    return client


def label_studio_request(endpoint: str, status: int) -> None:
    """One answer from Label Studio (status 0: it could not be reached)."""
    LABEL_STUDIO_REQUESTS.labels(endpoint, f"{status // 100}xx" if status else "unreachable").inc()


def function_errors_seen(target: str, count: int) -> None:
    if count:
        FUNCTION_ERRORS.labels(target).inc(count)


def names() -> set[str]:
    """Every series name this operator exports (what a dashboard may query)."""
    found: set[str] = set()
    for family in REGISTRY.collect():
        suffixes = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count")}.get(family.type, ("",))
        found.update(family.name + suffix for suffix in suffixes)
    return found


def serve(port: int, path: str = "/metrics", address: str = "0.0.0.0") -> ThreadingHTTPServer:
    """Serve the metrics at `path` on `port`, in a thread of their own."""
    server = ThreadingHTTPServer((address, port), _endpoint(path))
    threading.Thread(target=server.serve_forever, name="prometheus", daemon=True).start()
    return server


def _endpoint(path: str) -> Callable[..., BaseHTTPRequestHandler]:
    class Endpoint(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path.split("?", 1)[0] != path:
                self.send_error(404, f"metrics are at {path}")
                return
            body = prometheus_client.generate_latest(REGISTRY)
            self.send_response(200)
            self.send_header("Content-Type", prometheus_client.CONTENT_TYPE_LATEST)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_) -> None:
            pass

    return Endpoint
