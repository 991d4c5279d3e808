"""The AgreementMetric reference page, written from the CRD: every field with its type, bounds, default and
description, so the page cannot drift from the schema (scripts/reference writes it; a test compares)."""

from collections.abc import Iterator, Mapping

from agreement_operator import crd

_BOUNDS = (("minLength", "length ≥ {}"), ("maxLength", "length ≤ {}"),
           ("minimum", "≥ {}"), ("maximum", "≤ {}"), ("minItems", "items ≥ {}"),
           ("maxItems", "items ≤ {}"), ("minProperties", "entries ≥ {}"), ("maxProperties", "entries ≤ {}"),
           ("pattern", "matches `{}`"))


def _type(schema: Mapping) -> str:
    kind = schema.get("type", "any")
    if kind == "array":
        return f"array of {_type(schema.get('items') or {})}"
    if kind == "object" and "additionalProperties" in schema and "properties" not in schema:
        return f"map of {_type(schema['additionalProperties'] or {})}"
    return "any" if schema.get("x-kubernetes-preserve-unknown-fields") and kind == "object" else kind


def _rules(schema: Mapping, required: bool) -> str:
    rules = ["required"] if required else []
    rules += [text.format(schema[key]) for key, text in _BOUNDS if key in schema]
    if "enum" in schema:
        rules.append("one of " + ", ".join(f"`{value}`" for value in schema["enum"]))
    if "default" in schema:
        rules.append(f"default `{_plain(schema['default'])}`")
    rules += [f"rule: {rule.get('message') or rule['rule']}" for rule in schema.get("x-kubernetes-validations", ())]
    return "; ".join(rules)


def _plain(value: object) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{key}: {_plain(item)}" for key, item in value.items()) + "}"
    return str(value)


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def fields(schema: Mapping, path: str, required: bool = False) -> Iterator[tuple[str, str, str, str]]:
    """(path, type, rules, description) of a field and every field under it, depth first."""
    yield path, _type(schema), _rules(schema, required), schema.get("description", "")
    needed = set(schema.get("required", ()))
    for name, child in (schema.get("properties") or {}).items():
        yield from fields(child, f"{path}.{name}", name in needed)
    items = schema.get("items") or {}
    for name, child in (items.get("properties") or {}).items():
        yield from fields(child, f"{path}[].{name}", name in set(items.get("required", ())))
    values = schema.get("additionalProperties")
    if isinstance(values, Mapping) and values.get("properties"):
        for name, child in values["properties"].items():
            yield from fields(child, f"{path}.*.{name}", name in set(values.get("required", ())))


def page(definition: Mapping) -> str:
    """The Markdown page for the CRD `definition` (its served version)."""
    version = next(item for item in definition["spec"]["versions"] if item.get("served"))
    schema = version["schema"]["openAPIV3Schema"]
    lines = [
        f"# {crd.KIND} reference",
        "",
        "<!-- Written by scripts/reference from crds/agreementmetrics.yaml: edit the CRD, then run it. -->",
        "",
        f"`{crd.GROUP}/{version['name']}`, kind `{crd.KIND}`, namespaced. Every field the CRD declares: its "
        "type, what the apiserver checks (bounds, patterns, defaults, rules) and what it means. The operator "
        "checks more before it deploys (the code compiles, the function name fits); those checks and their "
        "messages are in [the resource's page](../resource.md).",
    ]
    for part in ("spec", "status"):
        lines += ["", f"## {part}", "", "| field | type | checked by the apiserver | meaning |",
                  "| --- | --- | --- | --- |"]
        for path, kind, rules, description in fields(schema["properties"][part], part):
            lines.append(f"| `{path}` | {kind} | {_cell(rules)} | {_cell(description)} |")
    return "\n".join(lines) + "\n"
