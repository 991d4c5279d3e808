"""Reference pages written from the code, so that they cannot drift from it (scripts/reference writes them; a
test compares): the commands, from their own parsers; the operator's settings and the conditions' reasons,
from their catalogues (settings.py, reasons.py, controller/series.py); the Helm chart's values, from values.yaml and
values.schema.json. (The CRD's page: schema/reference.py.)"""

import json
from collections.abc import Iterable, Iterator, Mapping

from agreement_operator import failures
from agreement_operator.cli.main import COMMANDS, command_parser
from agreement_operator.controller.series import SERIES
from agreement_operator.reasons import REASONS, STALLED, Reason
from agreement_operator.settings import SETTINGS

WIDTH = 100  # the help text's width on the page, whatever the terminal of whoever writes it


def page() -> str:
    lines = ["# Command reference", "",
             "<!-- Written by scripts/reference from the commands' parsers: change a parser, then run it. -->", "",
             "`agreement-operator COMMAND [ARGUMENTS]`. Each command's `--help` prints the same text, at your "
             "terminal's width.", ""]
    for name, command in COMMANDS.items():
        lines += [f"## {name}", "", command.summary[0].upper() + command.summary[1:] + ".", "", "```text",
                  command_parser(name, WIDTH).format_help().rstrip(), "```", ""]
    return "\n".join(lines)


def helm_values(values: Mapping, schema: Mapping, path: str = "") -> Iterator[tuple[str, str, str, str]]:
    """(value, type, default, description) of every value in values.yaml, depth first; a map with keys is a
    heading of its own, an empty map or a list a value. KeyError: a value the schema does not declare."""
    for key, default in values.items():
        name, declared = f"{path}{key}", schema["properties"][key]
        heading = isinstance(default, Mapping) and bool(default) and "properties" in declared
        yield name, declared.get("type", "any"), "" if heading else json.dumps(default), declared.get("description", "")
        if heading:
            yield from helm_values(default, declared, f"{name}.")


def _table_page(title: str, source: str, intro: str, columns: list[str], rows: Iterable[list[str]]) -> str:
    """A reference page: its title, where it is written from, an introduction, and one table."""
    lines = [f"# {title}", "", f"<!-- Written by scripts/reference from {source}: edit the source, then run it. -->",
             "", intro, "", "| " + " | ".join(columns) + " |", "|" + " --- |" * len(columns)]
    lines += ["| " + " | ".join(" ".join(cell.split()).replace("|", "\\|") for cell in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def helm_values_page(values: Mapping, schema: Mapping) -> str:
    return _table_page(
        "Helm values", "helm/agreement-operator/values.yaml and values.schema.json",
        "Every value of the chart `helm/agreement-operator`, its type, its default, and what it does. helm refuses "
        "a value the schema does not declare, or of the wrong type.", ["value", "type", "default", "meaning"],
        ([f"`{name}`", kind, f"`{default}`" if default else "below", description]
         for name, kind, default, description in helm_values(values, schema)))


def settings_page() -> str:
    return _table_page(
        "Settings", "operator/agreement_operator/settings.py",
        "The operator reads its environment once at start; a missing or malformed setting stops it with one line "
        "that names the variable. The Helm chart sets them from its values ([helm-values.md](helm-values.md)).",
        ["variable", "default", "meaning"],
        ([", ".join(f"`{name}`" for name in setting.names), setting.default, setting.meaning] for setting in SETTINGS))


def reasons_page() -> str:
    def again(reason: Reason) -> str:
        if reason.condition != STALLED:
            return ""
        return "yes" if set(reason.names) & failures.OUTSIDE_THE_RESOURCE else "no"

    return _table_page(
        "Condition reasons", "operator/agreement_operator/reasons.py",
        "Every reason a metric's conditions give (`kubectl get am` shows it in the `REASON` column), what it means "
        "and what to do. A metric is Stalled when retrying cannot get further: when the cause lies outside the "
        "resource (an IAM policy, a key, a ConfigMap) the operator looks again by itself, first within 10 s and then "
        "no more often than the resync interval, and the metric returns to Ready once the cause is fixed; otherwise "
        "it waits for a change of the metric. Troubleshooting by symptom: [troubleshooting.md](../troubleshooting.md).",
        ["reason", "condition", "what it means", "what to do", "looks again by itself"],
        ([", ".join(f"`{name}`" for name in reason.names), reason.condition, reason.meaning, reason.action,
          again(reason)] for reason in REASONS))


def prometheus_page() -> str:
    return _table_page(
        "Prometheus series", "operator/agreement_operator/controller/series.py",
        "Every series the operator serves on `AGREEMENT_OPERATOR_METRICS_PORT` at `AGREEMENT_OPERATOR_METRICS_PATH` "
        "([settings.md](settings.md)). Every label takes a bounded set of values; the series of each AgreementMetric "
        "exist while it does and go when it is deleted. The chart's Grafana dashboard queries these: "
        "[operate.md](../operate.md#observability).", ["series", "type", "labels", "meaning"],
        ([", ".join(f"`{name}`" if at == 0 else f"`{name.removeprefix(entry.name)}`"
                    for at, name in enumerate(entry.exported)), entry.kind,
          "; ".join(f"`{label}`: {values}" for label, values in entry.labels), entry.meaning] for entry in SERIES))
