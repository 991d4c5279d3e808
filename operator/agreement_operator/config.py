"""The operator's settings, read once from the environment.

A missing or malformed setting raises ConfigError with one line that names it.
"""

import json
import os
import re
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass, field

from agreement_operator import aws_connections
from agreement_operator.aws_connections import AwsConnection

DEFAULT_CLUSTER_ID = "default"
DEFAULT_RESYNC_SECONDS = 600.0
DEFAULT_FUNCTION_ERRORS_SECONDS = 300.0
DEFAULT_FUNCTION_ERRORS_WINDOW_SECONDS = 3600.0
DEFAULT_WORKERS = 16
DEFAULT_METRICS_PORT = 9090
# The operator's shares of the account's AWS quotas, in requests per second (docs/performance.md):
# Lambda's control plane allows 15 and GetFunction 100; CloudWatch Logs Insights 5 StartQuery and
# 5 GetQueryResults; GetMetricData 50. What is left is for Label Studio and every other tool.
DEFAULT_LAMBDA_REQUESTS_PER_SECOND = 10.0
DEFAULT_LAMBDA_READS_PER_SECOND = 50.0
DEFAULT_LOGS_REQUESTS_PER_SECOND = 2.0
DEFAULT_CLOUDWATCH_REQUESTS_PER_SECOND = 5.0

_ROLE_ARN = re.compile(r"^arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]{1,512}$")
_REGION = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d{1,2}$")
_CLUSTER_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")
_NAMESPACE = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")


class ConfigError(ValueError):
    """A setting is missing or malformed; the message names it and says what to set."""


DEFAULT_CONNECTION = "default"  # LABEL_STUDIO_URL and LABEL_STUDIO_API_KEY


@dataclass(frozen=True)
class LabelStudioConnection:
    """A Label Studio that spec.labelStudio metrics may deploy through, and the namespaces it serves."""

    name: str
    url: str
    api_key: str = field(repr=False)
    namespaces: tuple[str, ...] = ("*",)  # ("*",): every namespace

    def serves(self, namespace: str) -> bool:
        return "*" in self.namespaces or namespace in self.namespaces


@dataclass(frozen=True)
class Config:
    # Both None when the operator deploys only through Label Studio (LABEL_STUDIO_URL set, no AWS).
    region: str | None
    execution_role_arn: str | None
    endpoint_url: str | None = None
    cluster_id: str = DEFAULT_CLUSTER_ID
    resync_seconds: float = DEFAULT_RESYNC_SECONDS
    # How often each Ready metric's function errors are read (0: never), and over how long a past.
    function_errors_seconds: float = DEFAULT_FUNCTION_ERRORS_SECONDS
    function_errors_window_seconds: float = DEFAULT_FUNCTION_ERRORS_WINDOW_SECONDS
    namespaces: tuple[str, ...] = ()  # empty: every namespace
    # Namespaces whose metrics may adopt untagged functions; ("*",): every namespace; empty: none.
    adopt_namespaces: tuple[str, ...] = ()
    # Handler threads, and connections to Lambda and the apiserver: sized for the pod, not the node.
    workers: int = DEFAULT_WORKERS
    # The operator's shares of the account's quotas (requests per second): Lambda's control plane,
    # GetFunction, CloudWatch Logs, and CloudWatch's GetMetricData.
    lambda_requests_per_second: float = DEFAULT_LAMBDA_REQUESTS_PER_SECOND
    lambda_reads_per_second: float = DEFAULT_LAMBDA_READS_PER_SECOND
    logs_requests_per_second: float = DEFAULT_LOGS_REQUESTS_PER_SECOND
    cloudwatch_requests_per_second: float = DEFAULT_CLOUDWATCH_REQUESTS_PER_SECOND
    # Prometheus metrics: the port (0: not served) and the path.
    metrics_port: int = DEFAULT_METRICS_PORT
    metrics_path: str = "/metrics"
    # A test-only switch (AGREEMENT_OPERATOR_TEST_UNHEALTHY_FILE): touching this file fails the liveness
    # probe of the process running then, so a test can watch the kubelet restart it (controller/health.py).
    unhealthy_file: str | None = None
    # Namespaces whose metrics may deploy through the Label Studio connection; ("*",): every namespace.
    label_studio_namespaces: tuple[str, ...] = ("*",)
    # The Label Studio that spec.labelStudio metrics deploy through; the key never appears in repr or logs.
    label_studio_url: str | None = None
    label_studio_api_key: str | None = field(default=None, repr=False)
    # Named connections besides the default one (AGREEMENT_OPERATOR_LABEL_STUDIO_CONNECTIONS).
    label_studio_named: tuple[LabelStudioConnection, ...] = ()
    # Whether the operator updates the AgreementMetric CRD when the cluster's is older than its own
    # (AGREEMENT_OPERATOR_MANAGE_CRD); off, it only checks it (controller/crd_upkeep.py).
    manage_crd: bool = True
    # Named AWS connections besides the default one (AGREEMENT_OPERATOR_AWS_CONNECTIONS).
    aws_named: tuple[AwsConnection, ...] = ()

    @property
    def aws_connections(self) -> dict[str, AwsConnection]:
        """Every AWS connection by name: `default` (the region and role settings, every namespace) and the named."""
        found = {connection.name: connection for connection in self.aws_named}
        if self.region and self.execution_role_arn:
            found = {aws_connections.DEFAULT: AwsConnection(aws_connections.DEFAULT, self.region,
                                                           self.execution_role_arn), **found}
        return found

    @property
    def label_studio_connections(self) -> dict[str, LabelStudioConnection]:
        """Every Label Studio connection by name: `default` (LABEL_STUDIO_URL) and the named ones."""
        found = {connection.name: connection for connection in self.label_studio_named}
        if self.label_studio_url and self.label_studio_api_key:
            found = {DEFAULT_CONNECTION: LabelStudioConnection(DEFAULT_CONNECTION, self.label_studio_url,
                                                              self.label_studio_api_key,
                                                              self.label_studio_namespaces), **found}
        return found

    @property
    def lambda_enabled(self) -> bool:
        return bool(self.aws_connections)

    def may_adopt(self, namespace: str) -> bool:
        return "*" in self.adopt_namespaces or namespace in self.adopt_namespaces

    def may_use_label_studio(self, namespace: str) -> bool:
        return "*" in self.label_studio_namespaces or namespace in self.label_studio_namespaces

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> "Config":
        _no_retry_mode(env)
        label_studio_url, label_studio_api_key = label_studio(env)
        named = _named_connections(env, default_taken=bool(label_studio_url))
        try:
            aws_named = aws_connections.parse(env.get(aws_connections.VARIABLE, ""))
        except ValueError as error:
            raise ConfigError(str(error)) from error
        lambda_wanted = not (label_studio_url or named or aws_named) or any(
            env.get(name) for name in ("LS_LAMBDA_REGION_CUSTOM_METRICS", "LS_LAMBDA_ROLE_CUSTOM_METRICS"))
        return cls(
            region=aws_region(env) if lambda_wanted else None,
            execution_role_arn=_role_arn(env) if lambda_wanted else None,
            label_studio_url=label_studio_url,
            label_studio_api_key=label_studio_api_key,
            endpoint_url=aws_endpoint_url(env),
            cluster_id=_cluster_id(env),
            resync_seconds=_seconds(env, "AGREEMENT_OPERATOR_RESYNC_SECONDS", DEFAULT_RESYNC_SECONDS, 1, 86400),
            function_errors_seconds=_seconds(env, "AGREEMENT_OPERATOR_FUNCTION_ERRORS_SECONDS",
                                             DEFAULT_FUNCTION_ERRORS_SECONDS, 1, 86400, off=True),
            function_errors_window_seconds=_seconds(env, "AGREEMENT_OPERATOR_FUNCTION_ERRORS_WINDOW_SECONDS",
                                                    DEFAULT_FUNCTION_ERRORS_WINDOW_SECONDS, 60, 7 * 86400),
            namespaces=_namespace_list(env, "AGREEMENT_OPERATOR_NAMESPACES", "all namespaces"),
            adopt_namespaces=_namespace_list(env, "AGREEMENT_OPERATOR_ADOPT_NAMESPACES", "no adoption", "*"),
            label_studio_namespaces=_label_studio_namespaces(env),
            label_studio_named=named,
            workers=_workers(env),
            lambda_requests_per_second=_rate(env, "AGREEMENT_OPERATOR_LAMBDA_REQUESTS_PER_SECOND",
                                             DEFAULT_LAMBDA_REQUESTS_PER_SECOND),
            lambda_reads_per_second=_rate(env, "AGREEMENT_OPERATOR_LAMBDA_READS_PER_SECOND",
                                          DEFAULT_LAMBDA_READS_PER_SECOND),
            logs_requests_per_second=_rate(env, "AGREEMENT_OPERATOR_LOGS_REQUESTS_PER_SECOND",
                                           DEFAULT_LOGS_REQUESTS_PER_SECOND),
            cloudwatch_requests_per_second=_rate(env, "AGREEMENT_OPERATOR_CLOUDWATCH_REQUESTS_PER_SECOND",
                                                 DEFAULT_CLOUDWATCH_REQUESTS_PER_SECOND),
            metrics_port=_metrics_port(env),
            metrics_path=_metrics_path(env),
            unhealthy_file=env.get("AGREEMENT_OPERATOR_TEST_UNHEALTHY_FILE") or None,
            manage_crd=_switch(env, "AGREEMENT_OPERATOR_MANAGE_CRD", True),
            aws_named=aws_named,
        )


def label_studio(env: Mapping[str, str]) -> tuple[str | None, str | None]:
    """LABEL_STUDIO_URL and LABEL_STUDIO_API_KEY, checked; both None when neither is set."""
    url, key = env.get("LABEL_STUDIO_URL", "").strip(), env.get("LABEL_STUDIO_API_KEY", "").strip()
    if not url and not key:
        return None, None
    if not url:
        raise ConfigError("LABEL_STUDIO_API_KEY is set but LABEL_STUDIO_URL is not; set it to your Label Studio's "
                          "address, e.g. https://app.humansignal.com")
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.query or parts.fragment:
        raise ConfigError(f"LABEL_STUDIO_URL={url!r} is not an http(s) address; use e.g. https://app.humansignal.com")
    if not key:
        raise ConfigError("LABEL_STUDIO_URL is set but LABEL_STUDIO_API_KEY is not; set it to a Label Studio "
                          "personal access token or legacy token (Account & Settings in Label Studio)")
    return url.rstrip("/"), key


def _named_connections(env: Mapping[str, str], default_taken: bool) -> tuple[LabelStudioConnection, ...]:
    """AGREEMENT_OPERATOR_LABEL_STUDIO_CONNECTIONS: a JSON list of {name, url, apiKeyFile, namespaces}; each key
    is read from its file (a Secret the kubelet mounts: the operator reads no Secret itself)."""
    variable = "AGREEMENT_OPERATOR_LABEL_STUDIO_CONNECTIONS"
    raw = env.get(variable, "").strip()
    if not raw:
        return ()
    try:
        entries = json.loads(raw)
    except ValueError as error:
        raise ConfigError(f"{variable} is not JSON ({error}); give a list of {{name, url, apiKeyFile, "
                          "namespaces}}") from error
    if not isinstance(entries, list) or not all(isinstance(entry, Mapping) for entry in entries):
        raise ConfigError(f"{variable} must be a JSON list of {{name, url, apiKeyFile, namespaces}}")
    found: list[LabelStudioConnection] = []
    for entry in entries:
        name = str(entry.get("name") or "")
        if not _NAMESPACE.match(name):
            raise ConfigError(f"{variable}: connection name {name!r} must be a DNS label (e.g. team-a)")
        if name in [connection.name for connection in found] or (name == DEFAULT_CONNECTION and default_taken):
            raise ConfigError(f"{variable}: connection {name!r} is given twice (LABEL_STUDIO_URL is 'default')")
        url, _ = label_studio({"LABEL_STUDIO_URL": str(entry.get("url") or ""), "LABEL_STUDIO_API_KEY": "x"})
        try:
            with open(str(entry.get("apiKeyFile") or ""), encoding="utf-8") as file:
                key = file.read().strip()
        except OSError as error:
            raise ConfigError(f"{variable}: connection {name!r} cannot read its apiKeyFile "
                              f"({entry.get('apiKeyFile')!r}: {error.strerror})") from error
        if not key:
            raise ConfigError(f"{variable}: connection {name!r}: its apiKeyFile is empty")
        listed = ",".join(str(item) for item in entry.get("namespaces") or [])
        namespaces = _namespace_list({variable: listed}, variable, "the operator's own namespace", "*") if listed \
            else _label_studio_namespaces({})
        found.append(LabelStudioConnection(name, str(url), key, namespaces))
    return tuple(found)


def aws_endpoint_url(env: Mapping[str, str]) -> str | None:
    """AWS_ENDPOINT_URL: an endpoint other than AWS's own (an emulator's, a VPC endpoint's); None for AWS's."""
    return env.get("AWS_ENDPOINT_URL") or None


def aws_region(env: Mapping[str, str]) -> str:
    """The region of the metric functions: LS_LAMBDA_REGION_CUSTOM_METRICS, else AWS_REGION."""
    name = "LS_LAMBDA_REGION_CUSTOM_METRICS" if env.get("LS_LAMBDA_REGION_CUSTOM_METRICS") else "AWS_REGION"
    region = env.get(name, "")
    if not region:
        raise ConfigError(
            "LS_LAMBDA_REGION_CUSTOM_METRICS (or AWS_REGION) is not set; set it to the AWS region "
            "of the metric functions, e.g. us-east-1 (or, to deploy only through Label Studio projects, "
            "set LABEL_STUDIO_URL and LABEL_STUDIO_API_KEY)"
        )
    if not _REGION.match(region):
        raise ConfigError(f"{name}={region!r} is not an AWS region name; use e.g. us-east-1")
    return region


def _role_arn(env: Mapping[str, str]) -> str:
    arn = env.get("LS_LAMBDA_ROLE_CUSTOM_METRICS", "")
    example = "arn:aws:iam::123456789012:role/LSE_CustomMetricsExecuteRole"
    if not arn:
        raise ConfigError(
            f"LS_LAMBDA_ROLE_CUSTOM_METRICS is not set; set it to the functions' execution role ARN, e.g. {example}"
        )
    if not _ROLE_ARN.match(arn):
        raise ConfigError(f"LS_LAMBDA_ROLE_CUSTOM_METRICS={arn!r} is not an IAM role ARN; use e.g. {example}")
    return arn


def _cluster_id(env: Mapping[str, str]) -> str:
    cluster_id = env.get("AGREEMENT_OPERATOR_CLUSTER_ID") or DEFAULT_CLUSTER_ID
    if not _CLUSTER_ID.match(cluster_id):
        raise ConfigError(
            f"AGREEMENT_OPERATOR_CLUSTER_ID={cluster_id!r} must be 1-63 letters, digits, '.', '_' or '-'"
        )
    return cluster_id


def _seconds(env: Mapping[str, str], name: str, default: float, low: float, high: float, off: bool = False) -> float:
    """A number of seconds from `low` to `high` (or 0 when `off` allows turning the feature off)."""
    raw = env.get(name)
    if not raw:
        return default
    try:
        seconds = float(raw)
    except ValueError:
        seconds = -1.0
    if not (low <= seconds <= high or (off and seconds == 0)):
        also = ", or 0 to turn it off" if off else ""
        raise ConfigError(f"{name}={raw!r} must be a number of seconds from {low:g} to {high:g}{also}")
    return seconds


def _no_retry_mode(env: Mapping[str, str]) -> None:
    if env.get("AGREEMENT_OPERATOR_RETRY_MODE"):
        raise ConfigError("AGREEMENT_OPERATOR_RETRY_MODE is no longer read: the operator makes one attempt per "
                          "AWS call and paces its calls itself; remove it, and set "
                          "AGREEMENT_OPERATOR_LAMBDA_REQUESTS_PER_SECOND to change its share of Lambda's quota")


def _rate(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        rate = float(raw)
    except ValueError:
        rate = -1.0
    if not 0.1 <= rate <= 10000:
        raise ConfigError(f"{name}={raw!r} must be a number of requests per second from 0.1 to 10000 "
                          f"(default {default:g})")
    return rate


def _switch(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name, "").strip().lower()
    if not raw:
        return default
    if raw not in ("true", "false"):
        raise ConfigError(f"{name}={env[name]!r} must be true or false (default {str(default).lower()})")
    return raw == "true"


def _metrics_port(env: Mapping[str, str]) -> int:
    raw = env.get("AGREEMENT_OPERATOR_METRICS_PORT")
    if not raw:
        return DEFAULT_METRICS_PORT
    if not raw.isdigit() or int(raw) > 65535:
        raise ConfigError(f"AGREEMENT_OPERATOR_METRICS_PORT={raw!r} must be a port number from 1 to 65535, "
                          "or 0 to serve no metrics")
    return int(raw)


def _metrics_path(env: Mapping[str, str]) -> str:
    path = env.get("AGREEMENT_OPERATOR_METRICS_PATH") or "/metrics"
    if not re.fullmatch(r"/[A-Za-z0-9_./-]*", path):
        raise ConfigError(f"AGREEMENT_OPERATOR_METRICS_PATH={path!r} must be a URL path such as /metrics")
    return path


def _workers(env: Mapping[str, str]) -> int:
    raw = env.get("AGREEMENT_OPERATOR_WORKERS")
    if not raw:
        return DEFAULT_WORKERS
    if not raw.isdigit() or not 1 <= int(raw) <= 256:
        raise ConfigError(f"AGREEMENT_OPERATOR_WORKERS={raw!r} must be a whole number from 1 to 256")
    return int(raw)


SERVICE_ACCOUNT_NAMESPACE = "/var/run/secrets/kubernetes.io/serviceaccount/namespace"


def _label_studio_namespaces(env: Mapping[str, str]) -> tuple[str, ...]:
    """AGREEMENT_OPERATOR_LABEL_STUDIO_NAMESPACES; unset, the operator's own namespace in a pod (the
    connection's token reaches every project its user may manage, so other namespaces are let in by
    name), and every namespace outside a cluster (one person's machine)."""
    variable = "AGREEMENT_OPERATOR_LABEL_STUDIO_NAMESPACES"
    if env.get(variable, "").strip():
        return _namespace_list(env, variable, "the operator's own namespace", "*")
    try:
        with open(SERVICE_ACCOUNT_NAMESPACE, encoding="utf-8") as file:
            own = file.read().strip()
    except OSError:
        return ("*",)
    return (own,) if own else ("*",)


def _namespace_list(env: Mapping[str, str], variable: str, when_empty: str, wildcard: str = "") -> tuple[str, ...]:
    names = tuple(name.strip() for name in env.get(variable, "").split(",") if name.strip())
    for name in names:
        if (wildcard and name == wildcard) or _NAMESPACE.match(name):
            continue
        also = f", or {wildcard!r} for every namespace" if wildcard else ""
        raise ConfigError(
            f"{variable} has {name!r}, which is not a namespace name; use a comma-separated list "
            f"such as 'labeling,qa'{also}, or leave it empty for {when_empty}"
        )
    return names
