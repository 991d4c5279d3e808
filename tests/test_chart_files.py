"""The Helm chart's files agree with the project's: CRDs identical, every value in the schema."""

import json
import re
from pathlib import Path

import yaml

from agreement_operator.controller import prometheus, series

ROOT = Path(__file__).parent.parent
CHART = ROOT / "helm" / "agreement-operator"


def test_chart_crds_are_identical_to_the_top_level_crds():
    top = sorted(path.name for path in (ROOT / "crds").glob("*.yaml"))
    chart = sorted(path.name for path in (CHART / "crds").glob("*.yaml"))
    assert top == chart == ["agreementmetrics.yaml", "kopf-peering.yaml"]
    for name in top:
        assert (ROOT / "crds" / name).read_bytes() == (CHART / "crds" / name).read_bytes(), name


def leaves(values: dict, prefix: str = "") -> list[str]:
    paths = []
    for key, value in values.items():
        path = f"{prefix}{key}"
        paths.append(path)
        if isinstance(value, dict) and value and key not in ("resources", "labels"):  # free-form maps
            paths += leaves(value, path + ".")
    return paths


def schema_has(schema: dict, path: str) -> bool:
    node = schema
    for part in path.split("."):
        node = node.get("properties", {}).get(part)
        if node is None:
            return False
    return True


def test_values_schema_covers_every_value():
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    schema = json.loads((CHART / "values.schema.json").read_text())
    missing = [path for path in leaves(values) if not schema_has(schema, path)]
    assert missing == []
    assert schema["additionalProperties"] is False


def test_no_wildcards_in_rbac():
    text = (CHART / "templates" / "rbac.yaml").read_text() + (CHART / "templates" / "_helpers.tpl").read_text()
    assert '"*"' not in text and "'*'" not in text


def test_the_crd_refuses_lambda_settings_with_label_studio_in_the_words_validate_uses():
    from agreement_operator.metric import spec as metric_spec

    crd = yaml.safe_load((ROOT / "crds" / "agreementmetrics.yaml").read_text())
    spec_schema = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
    rules = {rule["rule"]: rule["message"] for rule in spec_schema["x-kubernetes-validations"]}
    for key in metric_spec.LAMBDA_ONLY_FIELDS:
        assert rules[f"!has(self.labelStudio) || !has(self.{key})"] == metric_spec.lambda_only_message(key)
        assert "default" not in spec_schema["properties"][key], f"a default for {key} would always be present"


def dashboard_queries() -> list[str]:
    dashboard = json.loads((CHART / "dashboards" / "agreement-operator.json").read_text())
    queries = [target["expr"] for panel in dashboard["panels"] for target in panel["targets"]]
    queries += [variable["query"] for variable in dashboard["templating"]["list"] if variable["type"] == "query"]
    return queries


def test_the_dashboard_queries_only_series_the_operator_exports_and_shows_every_one():
    used = {name for query in dashboard_queries() for name in re.findall(r"agreement_operator_[a-z_]+", query)}
    exported = prometheus.names()
    assert used and used <= exported, used - exported
    families = {name.removesuffix("_total").removesuffix("_bucket") for name in exported
                if not name.endswith(("_sum", "_count"))}
    shown = {name.removesuffix("_total").removesuffix("_bucket") for name in used}
    assert families <= shown, f"not on the dashboard: {families - shown}"


def test_the_dashboard_groups_each_series_only_by_labels_it_has():
    """A panel summed over a label the series lacks shows one line where it meant several."""
    scrape = {"le", "job", "instance", "pod", "namespace", "service", "endpoint", "container"}  # Prometheus adds
    labels = {name: set(entry.label_names) | scrape
              for entry in series.SERIES for name in entry.exported}
    grouped = [(set(map(str.strip, by.split(","))), name) for query in dashboard_queries()
               for by, name in re.findall(r"by \(([^)]*)\) \((?:rate\(|histogram_quantile\([^,]*, )*"
                                          r"(agreement_operator_[a-z_]+)", query)]
    assert grouped
    wrong = [(name, by - labels[name]) for by, name in grouped if not by <= labels[name]]
    assert wrong == []
    assert any("connection" in by for by, _ in grouped), "the budgets are shown per connection"
