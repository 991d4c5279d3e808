"""Reference pages written from the code, so that they cannot drift from it (scripts/reference writes them; a
test compares): the commands, from their own parsers; the operator's settings and the conditions' reasons,
from their catalogues (settings.py, reasons.py); the Helm chart's values, from values.yaml and
values.schema.json. (The CRD's page: schema/reference.py.)"""

import json
from collections.abc import Iterator, Mapping

from agreement_operator import failures
from agreement_operator.cli.main import COMMANDS, command_parser
from agreement_operator.reasons import REASONS, STALLED
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


def helm_values_page(values: Mapping, schema: Mapping) -> str:
    lines = ["# Helm values", "",
             "<!-- Written by scripts/reference from helm/agreement-operator/values.yaml and values.schema.json: "
             "edit those, then run it. -->", "",
             "Every value of the chart `helm/agreement-operator`, its type, its default, and what it does. helm "
             "refuses a value the schema does not declare, or of the wrong type.", "",
             "| value | type | default | meaning |", "| --- | --- | --- | --- |"]
    for name, kind, default, description in helm_values(values, schema):
        meaning = " ".join(description.split()).replace("|", "\\|")
        lines.append(f"| `{name}` | {kind} | {f'`{default}`' if default else 'below'} | {meaning} |")
    return "\n".join(lines) + "\n"


def settings_page() -> str:
    lines = ["# Settings", "",
             "<!-- Written by scripts/reference from operator/agreement_operator/settings.py: edit it, then run "
             "it. -->", "",
             "The operator reads its environment once at start; a missing or malformed setting stops it with one "
             "line that names the variable. The Helm chart sets them from its values "
             "([helm-values.md](helm-values.md)).", "",
             "| variable | default | meaning |", "| --- | --- | --- |"]
    for setting in SETTINGS:
        names = ", ".join(f"`{name}`" for name in setting.names)
        lines.append(f"| {names} | {setting.default} | {setting.meaning} |")
    return "\n".join(lines) + "\n"


def reasons_page() -> str:
    lines = ["# Condition reasons", "",
             "<!-- Written by scripts/reference from operator/agreement_operator/reasons.py: edit it, then run "
             "it. -->", "",
             "Every reason a metric's conditions give (`kubectl get am` shows it in the `REASON` column), what it "
             "means and what to do. A metric is Stalled when retrying cannot get further: when the cause lies "
             "outside the resource (an IAM policy, a key, a ConfigMap) the operator looks again by itself, first "
             "within 10 s and then no more often than the resync interval, and the metric returns to Ready once "
             "the cause is fixed; otherwise it waits for a change of the metric. Troubleshooting by symptom: "
             "[troubleshooting.md](../troubleshooting.md).", "",
             "| reason | condition | what it means | what to do | looks again by itself |",
             "| --- | --- | --- | --- | --- |"]
    for reason in REASONS:
        names = ", ".join(f"`{name}`" for name in reason.names)
        again = "" if reason.condition != STALLED else \
            "yes" if set(reason.names) & failures.OUTSIDE_THE_RESOURCE else "no"
        lines.append(f"| {names} | {reason.condition} | {reason.meaning} | {reason.action} | {again} |")
    return "\n".join(lines) + "\n"
