"""Every Prometheus series the operator exports: its name, type, labels (with the values each can take) and meaning.

controller/prometheus.py builds its counters, histogram and gauges from this catalogue only, and a test checks that
what the registry exports is exactly this; docs/reference/prometheus.md is written from it (scripts/reference).

Prometheus naming: the `agreement_operator_` prefix, base units in the name (`_seconds`), `_total` on counters.
Every label has a bounded set of values. The series of each AgreementMetric carry its namespace and name: one series
per resource that exists, removed when the resource is deleted, so they grow with the resources and nothing else.
"""

from dataclasses import dataclass

COUNTER, HISTOGRAM, GAUGE = "counter", "histogram", "gauge"


@dataclass(frozen=True)
class Series:
    name: str  # as registered: a counter's exported name adds `_total`, a histogram's `_bucket`, `_sum`, `_count`
    kind: str
    meaning: str
    labels: tuple[tuple[str, str], ...] = ()  # (label, the values it takes)

    @property
    def label_names(self) -> list[str]:
        return [label for label, _ in self.labels]

    @property
    def exported(self) -> tuple[str, ...]:
        return {COUNTER: (f"{self.name}_total",),
                HISTOGRAM: tuple(f"{self.name}{suffix}" for suffix in ("_bucket", "_sum", "_count"))
                }.get(self.kind, (self.name,))


REASON_VALUES = "a condition reason ([reasons.md](reasons.md))"
TARGET = ("target", "lambda, label_studio")
BUDGET = ("budget", "lambda, lambda-get-function, logs, cloudwatch")
CONNECTION = ("connection", "the AWS connection's name (`default`: the operator's own account and region)")
RESOURCE = (("namespace", "the AgreementMetric's"), ("name", "the AgreementMetric's"))

RECONCILES = Series("agreement_operator_reconciles", COUNTER, "Reconcile passes, by target, outcome and reason.", (
    TARGET, ("outcome", "ready, reconciling, stalled, error"), ("reason", REASON_VALUES)))
RECONCILE_DURATION = Series("agreement_operator_reconcile_duration_seconds", HISTOGRAM,
                            "Time one reconcile pass took, by target.", (TARGET,))
AWS_REQUESTS = Series(
    "agreement_operator_aws_requests", COUNTER,
    "AWS API calls (once each, after botocore's retries), by service, operation and error code.",
    (("service", "lambda, cloudwatch-logs, cloudwatch"), ("operation", "an AWS API action, e.g. GetFunction"),
     ("error_code", "AWS's error code; empty when the call succeeded"), CONNECTION))
AWS_THROTTLED = Series("agreement_operator_aws_throttled_requests", COUNTER,
                       "AWS API calls refused as throttled (429), each attempt, by service and operation.",
                       (("service", "as above"), ("operation", "as above"), CONNECTION))
LABEL_STUDIO_REQUESTS = Series(
    "agreement_operator_label_studio_requests", COUNTER, "Requests to Label Studio's API, by endpoint and status.",
    (("endpoint", "method and path, e.g. POST custom-function"), ("status", "2xx, 4xx, 5xx, unreachable")))
SMOKE_TESTS = Series("agreement_operator_smoke_tests", COUNTER,
                     "Smoke tests run against deployed functions, by result.", (("result", "passed, failed"),))
PERIODIC_LOOKS = Series(
    "agreement_operator_periodic_looks", COUNTER, "Ready metrics read for their periodic checks (drift, function "
    "errors, usage); only the active replica of a peering counts up.")
FUNCTION_ERRORS = Series("agreement_operator_function_errors", COUNTER,
                         "New errors found in deployed functions' logs, by target.", (TARGET,))
BY_PHASE = Series("agreement_operator_agreement_metrics", GAUGE, "AgreementMetrics this operator holds, by phase.",
                  (("phase", "Ready, Reconciling, Stalled"),))
METRIC_READY = Series(
    "agreement_operator_metric_ready", GAUGE,
    "1 when the AgreementMetric is Ready, else 0; reason: its condition's reason.",
    (*RESOURCE, ("reason", REASON_VALUES)))
METRIC_INVOCATIONS = Series(
    "agreement_operator_metric_invocations", GAUGE, "Invocations of the AgreementMetric's function in the usage "
    "window (status.usage), for functions of the operator's own.", RESOURCE)
BUDGET_RATE = Series("agreement_operator_aws_budget_requests_per_second", GAUGE,
                     "The rate a share of an AWS quota spends now (slowed by 429s, back up after).",
                     (BUDGET, CONNECTION))
BUDGET_CONFIGURED = Series("agreement_operator_aws_budget_configured_requests_per_second", GAUGE,
                           "The rate each budget was given.", (BUDGET, CONNECTION))
BUDGET_TOKENS = Series("agreement_operator_aws_budget_tokens", GAUGE, "Calls a budget would let go at once now.",
                       (BUDGET, CONNECTION))
BUDGET_QUEUED = Series("agreement_operator_aws_budget_queued_calls", GAUGE, "Calls holding a turn in a budget's "
                       "queue.", (BUDGET, CONNECTION))
BUDGET_WAITS = Series("agreement_operator_aws_budget_waits", COUNTER,
                      "Calls that got a later turn instead of going at once, by budget.", (BUDGET, CONNECTION))
BUDGET_WAIT_SECONDS = Series("agreement_operator_aws_budget_wait_seconds", COUNTER,
                             "The turns' delays, added up, by budget.", (BUDGET, CONNECTION))
PASSES_WAITING = Series(
    "agreement_operator_passes_waiting", GAUGE, "Metrics waiting in the operator's queue for a pass: new ones and "
    "first looks after a restart beyond the handlers' threads, and retries of those waiting for their time.")

SERIES = (RECONCILES, RECONCILE_DURATION, AWS_REQUESTS, AWS_THROTTLED, LABEL_STUDIO_REQUESTS, SMOKE_TESTS,
          PERIODIC_LOOKS, FUNCTION_ERRORS, BY_PHASE, METRIC_READY, METRIC_INVOCATIONS, BUDGET_RATE, BUDGET_CONFIGURED,
          BUDGET_TOKENS, BUDGET_QUEUED, BUDGET_WAITS, BUDGET_WAIT_SECONDS, PASSES_WAITING)
