"""The operator's Prometheus metrics: named by Prometheus' conventions, counted where things happen,
and served at the configured path (scraped and parsed with prometheus_client's own parser)."""

import re
import urllib.error
import urllib.request

import pytest
from prometheus_client.parser import text_string_to_metric_families

from agreement_operator.controller import prometheus, series
from agreement_operator.lambda_target import lambda_api
from agreement_operator.sandbox.processes import free_port
from agreement_operator.target import Event, Outcome, Phase


def value(name: str, **labels) -> float:
    return prometheus.REGISTRY.get_sample_value(name, labels) or 0.0


def test_names_follow_prometheus_conventions():
    families = list(prometheus.REGISTRY.collect())
    assert families
    for family in families:
        assert re.fullmatch(r"agreement_operator_[a-z_]+", family.name), family.name
        assert family.documentation
        if family.type == "counter":
            assert all(sample.name.endswith("_total") for sample in family.samples)
        if family.type == "histogram":
            assert family.name.endswith("_seconds")
    assert "agreement_operator_reconciles_total" in prometheus.names()
    assert "agreement_operator_reconcile_duration_seconds_bucket" in prometheus.names()


def test_the_registry_exports_exactly_the_catalogue_with_its_types_and_labels():
    """A series added without its catalogue entry (and so without its line in the reference) fails here."""
    assert prometheus.names() == {name for entry in series.SERIES for name in entry.exported}
    catalogue = {entry.name.removesuffix("_total"): entry for entry in series.SERIES}
    for family in prometheus.REGISTRY.collect():
        assert family.type == catalogue[family.name].kind, family.name
        assert family.documentation == catalogue[family.name].meaning, family.name
    prometheus.METRICS.record("uid-labels", "labeling", "labels", "Ready", "Deployed")
    prometheus.METRICS.invoked("uid-labels", 3)
    try:
        for family in prometheus.REGISTRY.collect():
            for sample in family.samples:
                labels = [label for label in sample.labels if label != "le"]  # a histogram bucket's bound
                assert labels in ([], catalogue[family.name].label_names), family.name
    finally:
        prometheus.METRICS.forget("uid-labels")


RESOURCE_A = {"uid": "uid-a", "namespace": "labeling", "name": "a"}
RESOURCE_B = {"uid": "uid-b", "namespace": "labeling", "name": "b"}


def test_a_reconcile_is_counted_by_outcome_and_reason_and_timed():
    before = value("agreement_operator_reconciles_total", target="lambda", outcome="stalled", reason="InvalidCode")
    count = value("agreement_operator_reconcile_duration_seconds_count", target="lambda")
    prometheus.observe_reconcile("lambda", Outcome(Phase.STALLED, "InvalidCode", "line 2"), 0.2, RESOURCE_A)
    assert value("agreement_operator_reconciles_total", target="lambda", outcome="stalled",
                 reason="InvalidCode") == before + 1
    assert value("agreement_operator_reconcile_duration_seconds_count", target="lambda") == count + 1
    assert value("agreement_operator_agreement_metrics", phase="Stalled") >= 1
    prometheus.observe_reconcile("lambda", Outcome(Phase.READY, "Deployed", "ok"), 0.1, RESOURCE_A)
    stalled = value("agreement_operator_agreement_metrics", phase="Stalled")
    prometheus.METRICS.forget("uid-a")
    assert value("agreement_operator_agreement_metrics", phase="Stalled") == stalled


def test_smoke_tests_are_counted_only_when_they_ran():
    passed = value("agreement_operator_smoke_tests_total", result="passed")
    tests = {"total": 3, "passed": 2, "failed": 1}
    ran = Outcome(Phase.STALLED, "SmokeTestsFailed", "", status={"tests": tests},
                  events=[Event("SmokeTestsFailed", "1 of 3", warning=True)])
    prometheus.observe_reconcile("lambda", ran, 0.1, RESOURCE_B)
    not_run = Outcome(Phase.STALLED, "SmokeTestsFailed", "", status={"tests": tests})
    prometheus.observe_reconcile("lambda", not_run, 0.1, RESOURCE_B)
    assert value("agreement_operator_smoke_tests_total", result="passed") == passed + 2


def test_aws_calls_are_counted_by_operation_and_error_code(aws):
    client = prometheus.instrument(lambda_api.make_client("us-east-1"))
    before = value("agreement_operator_aws_requests_total", service="lambda", operation="GetFunction",
                   error_code="ResourceNotFoundException", connection="default")
    with pytest.raises(client.exceptions.ResourceNotFoundException):
        client.get_function(FunctionName="custom-metric-missing")
    client.list_functions()
    assert value("agreement_operator_aws_requests_total", service="lambda", operation="GetFunction",
                 error_code="ResourceNotFoundException", connection="default") == before + 1
    assert value("agreement_operator_aws_requests_total", service="lambda", operation="ListFunctions",
                 error_code="", connection="default") >= 1


def test_the_endpoint_serves_the_metrics_at_its_path_only():
    port = free_port()
    server = prometheus.serve(port, "/custom", address="127.0.0.1")
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/custom", timeout=5) as response:
            text = response.read().decode()
            assert response.headers["Content-Type"].startswith("text/plain")
        names = {family.name for family in text_string_to_metric_families(text)}
        assert {"agreement_operator_reconciles", "agreement_operator_agreement_metrics"} <= names
        with pytest.raises(urllib.error.HTTPError) as missing:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5)
        assert missing.value.code == 404
    finally:
        server.shutdown()
        server.server_close()


def test_label_studio_answers_are_counted_by_endpoint_and_status_class():
    before = value("agreement_operator_label_studio_requests_total", endpoint="GET custom-function", status="5xx")
    prometheus.label_studio_request("GET custom-function", 503)
    prometheus.label_studio_request("GET custom-function", 0)
    assert value("agreement_operator_label_studio_requests_total", endpoint="GET custom-function",
                 status="5xx") == before + 1
    assert value("agreement_operator_label_studio_requests_total", endpoint="GET custom-function",
                 status="unreachable") >= 1


def series_of(metric: str, reason: str | None = None) -> float | None:
    """The value of the qa/sentiment resource's series (None: there is none)."""
    labels = {"namespace": "qa", "name": "sentiment", **({"reason": reason} if reason else {})}
    return prometheus.REGISTRY.get_sample_value(metric, labels)


def test_each_resource_has_a_ready_series_and_its_invocations_until_it_is_deleted():
    resource = {"uid": "uid-c", "namespace": "qa", "name": "sentiment"}
    prometheus.observe_reconcile("lambda", Outcome(Phase.STALLED, "InvalidCode", "line 2"), 0.1, resource)
    assert series_of("agreement_operator_metric_ready", "InvalidCode") == 0
    prometheus.observe_reconcile("lambda", Outcome(Phase.READY, "Deployed", "ok"), 0.1, resource)
    assert series_of("agreement_operator_metric_ready", "Deployed") == 1
    assert series_of("agreement_operator_metric_ready", "InvalidCode") is None  # one series: the current reason
    prometheus.METRICS.invoked("uid-c", 12)
    assert series_of("agreement_operator_metric_invocations") == 12
    prometheus.METRICS.forget("uid-c")
    series = {(sample.name, tuple(sorted(sample.labels.items()))) for family in prometheus.REGISTRY.collect()
              for sample in family.samples}
    assert not [found for found in series if ("namespace", "qa") in found[1]]  # removed on delete
