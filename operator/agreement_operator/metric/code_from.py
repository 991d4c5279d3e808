"""Metric code kept in a ConfigMap: `spec.codeFrom.configMapKeyRef: {name, key}`.

The ConfigMap must carry the label crd.CODE_LABEL: the operator watches only those.
A change reaches the metric through the annotation REVISION_ANNOTATION, which the
operator sets to the ConfigMap's resourceVersion: the annotation change is an update
of the metric, so the usual update handler redeploys it.
"""

from collections.abc import Callable, Mapping

from agreement_operator import crd, failures

REVISION_ANNOTATION = f"{crd.GROUP}/configmap-revision"
DELETED = "deleted"

# (namespace, name) -> the ConfigMap's data, or None when it does not exist.
ConfigMapReader = Callable[[str, str], Mapping[str, str] | None]


def reference(spec: Mapping) -> tuple[str, str] | None:
    """(name, key) of the ConfigMap holding the code, or None when the code is inline."""
    ref = (spec.get("codeFrom") or {}).get("configMapKeyRef") or {}
    if "code" in spec or not ref.get("name") or not ref.get("key"):
        return None
    return ref["name"], ref["key"]


def resolve(spec: Mapping, namespace: str, read: ConfigMapReader) -> dict:
    """`spec` with the code read from its ConfigMap in place of codeFrom (inline code: unchanged)."""
    ref = reference(spec)
    if ref is None:
        return dict(spec)
    name, key = ref
    data = read(namespace, name)
    if data is None:
        raise failures.PermanentFailure(
            "ConfigMapNotFound",
            f"ConfigMap {namespace}/{name} named in spec.codeFrom.configMapKeyRef does not exist; create it "
            "(the metric is deployed as soon as it appears) or fix the name",
        )
    if key not in data:
        keys = ", ".join(sorted(data)) or "none"
        raise failures.PermanentFailure(
            "ConfigMapKeyNotFound",
            f"ConfigMap {namespace}/{name} has no key {key!r} (its keys: {keys}); "
            "fix spec.codeFrom.configMapKeyRef.key or add the key",
        )
    return {**{k: v for k, v in spec.items() if k != "codeFrom"}, "code": data[key]}
