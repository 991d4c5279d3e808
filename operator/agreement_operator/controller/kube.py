"""The operator's own Kubernetes API calls (kopf makes the rest): ConfigMaps, and writes mid-reconcile.

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

    def patch_status(self, namespace: str, metric: str, patch: dict) -> None:
        """Part of a metric's status, written at once (mid-pass: before a function is created under a new name)."""
        status, body = self._request("PATCH", _metric_path(namespace, metric) + "/status", {"status": patch})
        _raise_for(status, body, f"patch the status of AgreementMetric {namespace}/{metric}")

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
    raise failures.RetryableFailure("KubernetesAPIError", f"{what} failed: {status} {body.get('message', '')}".strip())
