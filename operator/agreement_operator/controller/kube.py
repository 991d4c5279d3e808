"""The operator's own Kubernetes API calls (kopf makes the rest): ConfigMaps, status writes, Events, and the
CRD read and applied.

A few plain HTTPS requests with the credentials kopf's login found, instead of the official
client library: that library costs about 60 MiB in every operator process (kopf imports it
whenever it is installed), for three calls.
"""

import base64
import datetime
import http.client
import json
import os
import ssl
import tempfile
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass

from agreement_operator import crd, failures
from agreement_operator.http_connections import KeptAliveConnections

_MERGE_PATCH = "application/merge-patch+json"
_APPLY_PATCH = "application/apply-patch+yaml"  # JSON is YAML: server-side apply takes either
_CRDS = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"
_TIMEOUT_SECONDS = 30.0
# The apiserver refuses an Event message longer than this.
_EVENT_MESSAGE_LIMIT = 1024
REPORTING_COMPONENT = "agreement-operator"


@dataclass(frozen=True)
class Credentials:
    """Where the apiserver is and how to authenticate: what kopf's login returned."""

    server: str
    token: str | None = None
    ca_path: str | None = None
    ca_data: str | None = None  # base64 PEM, as in a kubeconfig
    insecure: bool = False
    certificate_path: str | None = None
    certificate_data: str | None = None
    private_key_path: str | None = None
    private_key_data: str | None = None
    username: str | None = None
    password: str | None = None

    @classmethod
    def from_kopf(cls, info: object) -> "Credentials":
        def text(name: str) -> str | None:
            value = getattr(info, name, None)
            return os.fsdecode(value) if isinstance(value, bytes | os.PathLike) else value

        return cls(
            server=str(text("server")), token=text("token"), ca_path=text("ca_path"), ca_data=text("ca_data"),
            insecure=bool(getattr(info, "insecure", False)), certificate_path=text("certificate_path"),
            certificate_data=text("certificate_data"), private_key_path=text("private_key_path"),
            private_key_data=text("private_key_data"), username=text("username"), password=text("password"),
        )


class KubeAPI:
    """One kept-alive connection per thread; the credentials are replaced when kopf logs in again."""

    def __init__(self) -> None:
        self.credentials: Credentials | None = None
        self._connections: KeptAliveConnections | None = None

    def log_in(self, credentials: Credentials) -> None:
        self.credentials = credentials
        # One TLS context for every thread: each costs a copy of the CA store in native memory.
        tls = _tls(credentials) if not credentials.server.startswith("http:") else None
        # Connections made with the old credentials are dropped.
        self._connections = KeptAliveConnections(credentials.server, _TIMEOUT_SECONDS, tls)

    def read_configmap(self, namespace: str, name: str) -> Mapping[str, str] | None:
        """A labelled ConfigMap's data; None when it does not exist."""
        status, body = self._request("GET", f"/api/v1/namespaces/{namespace}/configmaps/{name}")
        if status == 404:
            return None
        _raise_for(status, body, f"get ConfigMap {namespace}/{name}")
        labels = (body.get("metadata") or {}).get("labels") or {}
        if labels.get(crd.CODE_LABEL) != crd.CODE_LABEL_VALUE:
            raise failures.PermanentFailure(
                "ConfigMapNotLabeled",
                f"ConfigMap {namespace}/{name} lacks the label {crd.CODE_LABEL}={crd.CODE_LABEL_VALUE}; the operator "
                "watches only ConfigMaps with it, so add the label (edits then redeploy the metric within seconds)",
            )
        return body.get("data") or {}

    def read_metric(self, namespace: str, name: str) -> Mapping | None:
        """An AgreementMetric as the apiserver has it; None when it does not exist."""
        status, body = self._request("GET", _metric_path(namespace, name))
        if status == 404:
            return None
        _raise_for(status, body, f"get AgreementMetric {namespace}/{name}")
        return body

    def mark_revision(self, namespace: str, metric: str, annotation: str, revision: str) -> None:
        """Set an annotation on a metric, which makes kopf run its update handler."""
        status, body = self._request("PATCH", _metric_path(namespace, metric),
                                     {"metadata": {"annotations": {annotation: revision}}})
        _raise_for(status, body, f"patch AgreementMetric {namespace}/{metric}")

    def list_metrics(self, namespaces: tuple[str, ...] = ()) -> list[Mapping]:
        """Every AgreementMetric in these namespaces (none given: in all of them)."""
        paths = [f"/apis/{crd.GROUP}/{crd.VERSION}/namespaces/{namespace}/{crd.PLURAL}" for namespace in namespaces] \
            or [f"/apis/{crd.GROUP}/{crd.VERSION}/{crd.PLURAL}"]
        found: list[Mapping] = []
        for path in paths:
            status, body = self._request("GET", path)
            _raise_for(status, body, f"list AgreementMetrics ({path})")
            found += body.get("items") or []
        return found

    def set_finalizers(self, metric: Mapping, finalizers: list[str]) -> None:
        """A metric's finalizers, unless the metric changed since it was read (409: read it again)."""
        metadata = metric["metadata"]
        patch = {"metadata": {"finalizers": finalizers, "resourceVersion": metadata["resourceVersion"]}}
        status, body = self._request("PATCH", _metric_path(metadata["namespace"], metadata["name"]), patch)
        _raise_for(status, body, f"patch the finalizers of AgreementMetric {metadata['namespace']}/{metadata['name']}")

    def patch_status(self, namespace: str, metric: str, patch: dict, resource_version: str | None = None) -> str | None:
        """Part of a metric's status. Every status write of the operator goes through here, and each is checked:
        a field the answer lacks was pruned by a CRD that does not declare it (FieldsPruned). With
        `resource_version`, only if the metric is still at that version (failures.RetryableFailure "Conflict"
        otherwise: someone wrote it since it was read). Answers the metric's resourceVersion after the write."""
        payload: dict = {"status": patch}
        if resource_version is not None:
            payload["metadata"] = {"resourceVersion": resource_version}
        status, body = self._request("PATCH", _metric_path(namespace, metric) + "/status", payload)
        _raise_for(status, body, f"patch the status of AgreementMetric {namespace}/{metric}")
        if dropped := pruned(patch, body.get("status") or {}, "status"):
            raise failures.FieldsPruned(dropped, body)
        return (body.get("metadata") or {}).get("resourceVersion")

    def read_crd(self, name: str) -> Mapping | None:
        """A CustomResourceDefinition; None when it does not exist. Listed by name: kopf's own rule (list and
        watch on every CRD) allows that, so even a chart whose RBAC predates the operator's checks can read it."""
        selector = urllib.parse.quote(f"metadata.name={name}")
        status, body = self._request("GET", f"{_CRDS}?fieldSelector={selector}")
        _raise_for(status, body, f"list CustomResourceDefinition {name}")
        items = body.get("items") or []
        return items[0] if items else None

    def apply_crd(self, manifest: Mapping) -> Mapping:
        """Server-side apply of a CRD as this operator's field manager, taking over the fields it sets from
        whoever set them before (helm's install, an older kubectl apply)."""
        name = manifest["metadata"]["name"]
        query = urllib.parse.urlencode({"fieldManager": REPORTING_COMPONENT, "force": "true"})
        status, body = self._request("PATCH", f"{_CRDS}/{name}?{query}", dict(manifest), _APPLY_PATCH)
        _raise_for(status, body, f"apply CustomResourceDefinition {name}")
        return body

    def peering_status(self, namespace: str | None, name: str) -> Mapping | None:
        """The status of a kopf peering object (ClusterKopfPeering, or KopfPeering in `namespace`): each
        operator's identity -> its priority, lifetime and last keep-alive. None when the object does not exist.
        Listed by name: the chart grants list and watch on peering objects, not get."""
        plural = "clusterkopfpeerings" if namespace is None else f"namespaces/{namespace}/kopfpeerings"
        selector = urllib.parse.quote(f"metadata.name={name}")
        status, body = self._request("GET", f"/apis/kopf.dev/v1/{plural}?fieldSelector={selector}")
        _raise_for(status, body, f"list the kopf peering {name}")
        items = body.get("items") or []
        return (items[0].get("status") or {}) if items else None

    def post_event(self, involved: Mapping, reason: str, message: str, warning: bool) -> None:
        """An Event about a metric, as kopf posts them (the operator's periodic work runs outside kopf's handlers)."""
        metadata = involved.get("metadata") or {}
        namespace = metadata["namespace"]
        if len(message) > _EVENT_MESSAGE_LIMIT:
            message = message[:_EVENT_MESSAGE_LIMIT - 3] + "..."
        now = datetime.datetime.now(datetime.UTC).isoformat()
        event = {
            "metadata": {"namespace": namespace, "generateName": f"{metadata['name']}."},
            "type": "Warning" if warning else "Normal", "reason": reason, "message": message,
            "action": "Reconcile", "reportingComponent": REPORTING_COMPONENT, "reportingInstance": REPORTING_COMPONENT,
            "source": {"component": REPORTING_COMPONENT},
            "involvedObject": {"apiVersion": involved.get("apiVersion"), "kind": involved.get("kind"),
                               "name": metadata["name"], "namespace": namespace, "uid": metadata.get("uid"),
                               "resourceVersion": metadata.get("resourceVersion")},
            "firstTimestamp": now, "lastTimestamp": now, "eventTime": now,
        }
        status, body = self._request("POST", f"/api/v1/namespaces/{namespace}/events", event, "application/json")
        _raise_for(status, body, f"post an Event about AgreementMetric {namespace}/{metadata['name']}")

    def _request(self, method: str, path: str, payload: dict | None = None,
                 content_type: str = _MERGE_PATCH) -> tuple[int, dict]:
        if self.credentials is None or self._connections is None:
            raise failures.RetryableFailure("KubernetesAPIError", "the operator has not logged in to Kubernetes yet")
        headers = {"Accept": "application/json", "User-Agent": "agreement-operator", **_auth(self.credentials)}
        data = None
        if payload is not None:
            data = json.dumps(payload).encode()
            headers["Content-Type"] = content_type
        try:
            answer = self._connections.request(method, path, data, headers)
        except (http.client.HTTPException, OSError) as error:
            raise failures.RetryableFailure("KubernetesAPIError", f"{method} {path} failed: {error}") from error
        try:
            body = json.loads(answer.body) if answer.body else {}
        except ValueError:
            body = {"message": answer.body[:200].decode(errors="replace")}
        return answer.status, body


def pruned(sent: object, kept: object, path: str) -> list[str]:
    """The fields of a merge patch that the answer lacks, as paths; a null (which deletes) is not a field.
    Lists are followed item by item when the answer has as many items as were sent."""
    if isinstance(sent, Mapping) and isinstance(kept, Mapping):
        return [lost for key, value in sent.items() if value is not None
                for lost in ([f"{path}.{key}"] if key not in kept else pruned(value, kept[key], f"{path}.{key}"))]
    if isinstance(sent, list) and isinstance(kept, list) and len(sent) == len(kept):
        return [lost for index, item in enumerate(sent) for lost in pruned(item, kept[index], f"{path}[{index}]")]
    return []


def _metric_path(namespace: str, metric: str) -> str:
    return f"/apis/{crd.GROUP}/{crd.VERSION}/namespaces/{namespace}/{crd.PLURAL}/{metric}"


def _auth(credentials: Credentials) -> dict[str, str]:
    if credentials.token:
        return {"Authorization": f"Bearer {credentials.token}"}
    if credentials.username and credentials.password:
        pair = base64.b64encode(f"{credentials.username}:{credentials.password}".encode()).decode()
        return {"Authorization": f"Basic {pair}"}
    return {}


def _tls(credentials: Credentials) -> ssl.SSLContext:
    context = ssl.create_default_context(
        cafile=credentials.ca_path,
        cadata=base64.b64decode(credentials.ca_data).decode() if credentials.ca_data else None,
    )
    if credentials.insecure:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    certificate = _pem_file(credentials.certificate_path, credentials.certificate_data)
    if certificate:
        context.load_cert_chain(certificate, _pem_file(credentials.private_key_path, credentials.private_key_data))
    return context


def _pem_file(path: str | None, data: str | None) -> str | None:
    """A path for ssl's file-only API: the given one, or a private temporary file holding the data."""
    if path or not data:
        return path
    handle, name = tempfile.mkstemp(prefix="agreement-operator-", suffix=".pem")  # mode 0600
    with os.fdopen(handle, "wb") as file:
        file.write(base64.b64decode(data))
    return name


def _raise_for(status: int, body: Mapping, what: str) -> None:
    if 200 <= status < 300:
        return
    if status == 403:
        raise failures.PermanentFailure(
            "Forbidden", f"Kubernetes RBAC forbids the operator to {what}; grant it in the operator's Role"
        )
    if status == 404:  # the object went away (a metric deleted mid-pass, say)
        raise failures.RetryableFailure("NotFound", f"{what} failed: it does not exist")
    if status == 409:  # a precondition (resourceVersion) failed: it changed since it was read
        raise failures.RetryableFailure("Conflict", f"{what} failed: it changed since it was read")
    raise failures.RetryableFailure("KubernetesAPIError", f"{what} failed: {status} {body.get('message', '')}".strip())
