"""What a new CRD takes away from an older one: a field removed, a type changed, validation narrowed.

v1alpha1 only grows. Objects stored under the older CRD must still be accepted, and every client
that wrote them must still be able to write them: so a new field, a wider bound or a new enum value
is fine, and each finding here is a change that would refuse (or drop) something the older CRD took.
A new CEL rule counts as narrowing: whether old objects pass it cannot be decided from the schemas.
"""

from collections.abc import Mapping

from agreement_operator.schema import packaged

# Bounds that only narrow by going down, and those that only narrow by going up.
_UPPER = ("maximum", "maxLength", "maxItems", "maxProperties")
_LOWER = ("minimum", "minLength", "minItems", "minProperties")
_KEEPS_UNKNOWN = "x-kubernetes-preserve-unknown-fields"


def narrowings(old: Mapping, new: Mapping) -> list[str]:
    """Every change from CRD `old` to CRD `new` that old objects or old clients could trip on, one line each."""
    found = [f"spec.names.{key}: {old['spec']['names'].get(key)!r} -> {new['spec']['names'].get(key)!r}"
             for key in ("kind", "plural", "singular", "listKind")
             if old["spec"]["names"].get(key) != new["spec"]["names"].get(key)]
    for key in ("group", "scope"):
        if old["spec"].get(key) != new["spec"].get(key):
            found.append(f"spec.{key}: {old['spec'].get(key)!r} -> {new['spec'].get(key)!r}")
    for version in [entry["name"] for entry in old["spec"]["versions"] if entry.get("served")]:
        before, after = packaged.served_schema(old, version), packaged.served_schema(new, version)
        if after is None:
            found.append(f"version {version}: no longer served")
        elif before is not None:
            found += [f"{version}: {line}" for line in _schema(before, after, "")]
    return found


def _schema(old: Mapping, new: Mapping, path: str) -> list[str]:
    where = path or "(root)"
    found = []
    if old.get("type") != new.get("type"):
        found.append(f"{where}: type {old.get('type')!r} -> {new.get('type')!r}")
    for key in _UPPER:
        if key in new and (key not in old or new[key] < old[key]):
            found.append(f"{where}: {key} {old.get(key, 'none')} -> {new[key]}")
    for key in _LOWER:
        if key in new and (key not in old or new[key] > old[key]):
            found.append(f"{where}: {key} {old.get(key, 'none')} -> {new[key]}")
    for key in ("exclusiveMaximum", "exclusiveMinimum"):
        if new.get(key) and not old.get(key):
            found.append(f"{where}: {key} added")
    for key in ("pattern", "format"):
        if key in new and new[key] != old.get(key):
            found.append(f"{where}: {key} {old.get(key, 'none')!r} -> {new[key]!r}")
    if "enum" in new and "enum" not in old:
        found.append(f"{where}: enum added")
    elif "enum" in new and (lost := [value for value in old["enum"] if value not in new["enum"]]):
        found.append(f"{where}: enum no longer allows {lost}")
    if newly_required := sorted(set(new.get("required", [])) - set(old.get("required", []))):
        found.append(f"{where}: now requires {newly_required}")
    old_rules = {rule.get("rule") for rule in old.get("x-kubernetes-validations", [])}
    found += [f"{where}: new rule {rule['rule']!r}" for rule in new.get("x-kubernetes-validations", [])
              if rule.get("rule") not in old_rules]
    if old.get("nullable") and not new.get("nullable"):
        found.append(f"{where}: no longer nullable")
    if old.get(_KEEPS_UNKNOWN) and not new.get(_KEEPS_UNKNOWN):
        found.append(f"{where}: unknown fields are no longer kept")
    found += _children(old, new, path)
    return found


def _children(old: Mapping, new: Mapping, path: str) -> list[str]:
    found = []
    new_properties = new.get("properties") or {}
    for name, schema in (old.get("properties") or {}).items():
        child = f"{path}.{name}" if path else name
        if name not in new_properties:
            if not new.get(_KEEPS_UNKNOWN):
                found.append(f"{child}: removed")
        else:
            found += _schema(schema, new_properties[name], child)
    if isinstance(old.get("items"), Mapping) and isinstance(new.get("items"), Mapping):
        found += _schema(old["items"], new["items"], f"{path}[]")
    old_values, new_values = old.get("additionalProperties"), new.get("additionalProperties")
    if isinstance(old_values, Mapping):
        if isinstance(new_values, Mapping):
            found += _schema(old_values, new_values, f"{path}.*")
        else:
            found.append(f"{path or '(root)'}: additional properties no longer allowed")
    return found
