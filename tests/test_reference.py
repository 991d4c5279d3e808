"""The reference pages in docs/reference/ are what scripts/reference writes from the code today."""

import ast
import json
import re
from pathlib import Path

import pytest
import yaml

from agreement_operator import failures, reasons, settings
from agreement_operator.cli import reference as commands
from agreement_operator.lambda_target import aws_errors
from agreement_operator.schema import reference as resource

ROOT = Path(__file__).parent.parent
CHART = ROOT / "helm" / "agreement-operator"
REGENERATE = "the page differs from the code: run `.venv/bin/python scripts/reference` and commit the result"


def test_the_agreementmetric_page_is_the_crd_today():
    written = resource.page(yaml.safe_load((ROOT / "crds" / "agreementmetrics.yaml").read_text()))
    assert (ROOT / "docs" / "reference" / "agreementmetric.md").read_text() == written, REGENERATE


def test_the_commands_page_is_the_parsers_today():
    assert (ROOT / "docs" / "reference" / "commands.md").read_text() == commands.page(), REGENERATE


@pytest.mark.parametrize("path", ["spec.code", "spec.labelStudio.project", "spec.tests[].expect",
                                  "status.observedGeneration", "status.conditions[].reason"])
def test_every_level_of_the_schema_is_on_the_page(path):
    page = (ROOT / "docs" / "reference" / "agreementmetric.md").read_text()
    assert f"| `{path}` |" in page


def test_a_field_shows_its_bounds_default_and_rules():
    definition = {"spec": {"versions": [{"name": "v1", "served": True, "schema": {"openAPIV3Schema": {"properties": {
        "spec": {"type": "object", "required": ["size"], "x-kubernetes-validations": [{"rule": "true",
                                                                                          "message": "be kind"}],
                 "properties": {"size": {"type": "integer", "minimum": 1, "maximum": 9, "default": 3,
                                         "description": "How | big."}}},
        "status": {"type": "object"}}}}}]}}
    page = resource.page(definition)
    assert "| `spec` | object | rule: be kind |" in page
    assert "| `spec.size` | integer | required; ≥ 1; ≤ 9; default `3` | How \\| big. |" in page


def chart_values() -> tuple[dict, dict]:
    return yaml.safe_load((CHART / "values.yaml").read_text()), json.loads((CHART / "values.schema.json").read_text())


def test_the_helm_values_page_is_the_chart_today():
    assert (ROOT / "docs" / "reference" / "helm-values.md").read_text() == commands.helm_values_page(*chart_values()), \
        REGENERATE


def test_every_helm_value_says_what_it_does():
    undescribed = [name for name, _, _, description in commands.helm_values(*chart_values()) if not description]
    assert undescribed == [], f"add a description to values.schema.json for {undescribed}"


def test_the_settings_page_is_the_catalogue_today():
    assert (ROOT / "docs" / "reference" / "settings.md").read_text() == commands.settings_page(), REGENERATE


def test_the_catalogue_holds_every_variable_config_reads_and_nothing_else():
    source = "".join((ROOT / "operator" / "agreement_operator" / module).read_text()
                     for module in ("config.py", "aws_connections.py"))
    read = set(re.findall(r'"((?:AGREEMENT_OPERATOR|LS_LAMBDA|LABEL_STUDIO|AWS)_[A-Z_]+)"', source))
    listed = {name for setting in settings.SETTINGS for name in setting.names}
    assert read - set(settings.NOT_LISTED) == listed


def test_the_prometheus_page_is_the_catalogue_today():
    assert (ROOT / "docs" / "reference" / "prometheus.md").read_text() == commands.prometheus_page(), REGENERATE


def test_the_reasons_page_is_the_catalogue_today():
    assert (ROOT / "docs" / "reference" / "reasons.md").read_text() == commands.reasons_page(), REGENERATE


def raised_reasons() -> set[str]:
    """Every reason the code passes to a failure's constructor as a literal."""
    raisers = {"PermanentFailure", "RetryableFailure", "InProgress", "ReconcileFailure"}
    found = set()
    for path in (ROOT / "operator" / "agreement_operator").rglob("*.py"):
        if "sandbox" in path.parts:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant):
                name = node.func.id if isinstance(node.func, ast.Name) else getattr(node.func, "attr", "")
                if name in raisers and isinstance(node.args[0].value, str):
                    found.add(node.args[0].value)
    return found


def test_the_catalogue_holds_every_reason_the_code_gives():
    listed = {name for reason in reasons.REASONS for name in reason.names}
    given = raised_reasons() | set(failures.OUTSIDE_THE_RESOURCE) | set(aws_errors._RETRYABLE_CODES)
    # Never a condition: LogsQueryFailed goes to status.functionErrors; NotFound and Conflict (the metric deleted,
    # or changed since it was read) drop a periodic status write, and the next look reads the metric again.
    internal = {"LogsQueryFailed", "NotFound", "Conflict"}
    assert len(given) > 40
    assert sorted(given - internal - listed) == [], "add them to operator/agreement_operator/reasons.py"


def test_each_reason_is_listed_once_under_the_condition_it_sets():
    names = [name for reason in reasons.REASONS for name in reason.names]
    assert len(names) == len(set(names))
    for reason in reasons.REASONS:
        outside = set(reason.names) & failures.OUTSIDE_THE_RESOURCE
        assert not outside or reason.condition == reasons.STALLED, reason.names
