"""The operator's own Kubernetes API calls (kopf makes the rest): ConfigMaps, and status written mid-reconcile.

The client configuration is the one kopf's login loaded; the client is made on first use,
because kopf logs in after the startup handlers run.
"""

import threading
from collections.abc import Mapping

import kubernetes

from agreement_operator import crd, errors


class KubeAPI:
    def __init__(self, pool_size: int) -> None:
        self._pool_size = pool_size
        self._client: kubernetes.client.ApiClient | None = None
        self._guard = threading.Lock()

    def _api(self) -> kubernetes.client.ApiClient:
        with self._guard:
            if self._client is None:
                configuration = kubernetes.client.Configuration.get_default_copy()
                # One connection per handler thread (urllib3's default pool keeps 4 and drops the rest).
                configuration.connection_pool_maxsize = self._pool_size
                self._client = kubernetes.client.ApiClient(configuration)
            return self._client

    def read_configmap(self, namespace: str, name: str) -> Mapping[str, str] | None:
        return read_configmap(kubernetes.client.CoreV1Api(self._api()), namespace, name)

    def mark_revision(self, namespace: str, metric: str, annotation: str, revision: str) -> None:
        mark_revision(kubernetes.client.CustomObjectsApi(self._api()), namespace, metric, annotation, revision)

    def write_function_names(self, namespace: str, metric: str, names: list[str]) -> None:
        write_function_names(kubernetes.client.CustomObjectsApi(self._api()), namespace, metric, names)


def read_configmap(core: kubernetes.client.CoreV1Api, namespace: str, name: str) -> Mapping[str, str] | None:
    """A labelled ConfigMap's data; None when it does not exist."""
    try:
        configmap = core.read_namespaced_config_map(name, namespace)
    except kubernetes.client.ApiException as error:
        if error.status == 404:
            return None
        raise _failure(error, f"get ConfigMap {namespace}/{name}") from error
    labels = configmap.metadata.labels or {}
    if labels.get(crd.CODE_LABEL) != crd.CODE_LABEL_VALUE:
        raise errors.PermanentFailure(
            "ConfigMapNotLabeled",
            f"ConfigMap {namespace}/{name} lacks the label {crd.CODE_LABEL}={crd.CODE_LABEL_VALUE}; the operator "
            "watches only ConfigMaps with it, so add the label (edits then redeploy the metric within seconds)",
        )
    return configmap.data or {}


def mark_revision(
    custom: kubernetes.client.CustomObjectsApi, namespace: str, metric: str, annotation: str, revision: str,
) -> None:
    """Set an annotation on a metric, which makes kopf run its update handler."""
    try:
        custom.patch_namespaced_custom_object(
            crd.GROUP, crd.VERSION, namespace, crd.PLURAL, metric,
            {"metadata": {"annotations": {annotation: revision}}},
        )
    except kubernetes.client.ApiException as error:
        raise _failure(error, f"patch AgreementMetric {namespace}/{metric}") from error


def write_function_names(
    custom: kubernetes.client.CustomObjectsApi, namespace: str, metric: str, names: list[str],
) -> None:
    """status.functionNames, written at once: before a function is created under a name not yet recorded."""
    try:
        custom.patch_namespaced_custom_object_status(
            crd.GROUP, crd.VERSION, namespace, crd.PLURAL, metric, {"status": {"functionNames": names}},
        )
    except kubernetes.client.ApiException as error:
        raise _failure(error, f"patch the status of AgreementMetric {namespace}/{metric}") from error


def _failure(error: kubernetes.client.ApiException, what: str) -> errors.ReconcileFailure:
    if error.status == 403:
        return errors.PermanentFailure(
            "Forbidden", f"Kubernetes RBAC forbids the operator to {what}; grant it in the operator's Role"
        )
    return errors.RetryableFailure("KubernetesAPIError", f"{what} failed: {error.status} {error.reason}")
