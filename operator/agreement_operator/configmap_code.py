"""Metric code kept in a ConfigMap: `spec.codeFrom.configMapKeyRef: {name, key}`.

A ConfigMap change reaches the metric through the annotation REVISION_ANNOTATION,
which the operator sets to the ConfigMap's resourceVersion: the annotation change
is an update of the metric, so the usual update handler redeploys it.
"""

from collections.abc import Callable, Mapping

from agreement_operator import crd, errors

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
        raise errors.PermanentFailure(
            "ConfigMapNotFound",
            f"ConfigMap {namespace}/{name} named in spec.codeFrom.configMapKeyRef does not exist; create it "
            "(the metric is deployed as soon as it appears) or fix the name",
        )
    if key not in data:
        keys = ", ".join(sorted(data)) or "none"
        raise errors.PermanentFailure(
            "ConfigMapKeyNotFound",
            f"ConfigMap {namespace}/{name} has no key {key!r} (its keys: {keys}); "
            "fix spec.codeFrom.configMapKeyRef.key or add the key",
        )
    return {**{k: v for k, v in spec.items() if k != "codeFrom"}, "code": data[key]}


def kubernetes_reader() -> ConfigMapReader:
    """Read ConfigMaps with the Kubernetes client configuration kopf's login loaded."""
    import kubernetes

    clients: list = []  # made on first use: kopf logs in after the startup handlers run

    def read(namespace: str, name: str) -> Mapping[str, str] | None:
        if not clients:
            clients.append(kubernetes.client.CoreV1Api())
        try:
            return clients[0].read_namespaced_config_map(name, namespace).data or {}
        except kubernetes.client.ApiException as error:
            if error.status == 404:
                return None
            if error.status == 403:
                raise errors.PermanentFailure(
                    "AccessDenied",
                    f"the operator may not read ConfigMap {namespace}/{name}; grant it get on configmaps",
                ) from error
            raise errors.RetryableFailure(
                "KubernetesAPIError", f"reading ConfigMap {namespace}/{name} failed: {error.status} {error.reason}"
            ) from error

    return read


def mark_revision(namespace: str, metric: str, revision: str) -> None:
    """Set REVISION_ANNOTATION on a metric, which makes kopf run its update handler."""
    import kubernetes

    kubernetes.client.CustomObjectsApi().patch_namespaced_custom_object(
        crd.GROUP, crd.VERSION, namespace, crd.PLURAL, metric,
        {"metadata": {"annotations": {REVISION_ANNOTATION: revision}}},
    )
