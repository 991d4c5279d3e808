"""Named AWS connections (AGREEMENT_OPERATOR_AWS_CONNECTIONS): each an account and region the operator deploys
Lambda metrics to, reached by assuming a role from the operator's own identity, with its own quota budget and the
namespaces it serves. The connection made of the operator's own settings (LS_LAMBDA_REGION_CUSTOM_METRICS,
LS_LAMBDA_ROLE_CUSTOM_METRICS, the pod's identity) is `default`.

This module only parses; config.py turns its ValueError into a ConfigError naming the variable.
"""

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass

DEFAULT = "default"
VARIABLE = "AGREEMENT_OPERATOR_AWS_CONNECTIONS"
SHAPE = "{name, roleArn, region, executionRoleArn, namespaces, externalId?, requestsPerSecond?}"
ROLE_ARN = re.compile(r"^arn:(aws[a-z-]*):iam::(\d{12}):role/[\w+=,.@/-]{1,512}$")
REGION = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d{1,2}$")
_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
_EXTERNAL_ID = re.compile(r"^[\w+=,.@:/-]{2,1224}$")  # STS' own pattern and length


@dataclass(frozen=True)
class AwsConnection:
    """An account and region; `role_arn` None: the operator's own credentials (the default connection)."""

    name: str
    region: str
    execution_role_arn: str
    namespaces: tuple[str, ...] = ("*",)  # ("*",): every namespace
    role_arn: str | None = None
    external_id: str | None = None
    requests_per_second: float | None = None  # None: the operator's setting for every connection

    @property
    def account(self) -> str:
        """The functions' account: their execution role's (Lambda takes a role of the function's own account)."""
        return self.execution_role_arn.split(":")[4]

    @property
    def partition(self) -> str:
        return self.execution_role_arn.split(":")[1]

    def serves(self, namespace: str) -> bool:
        return "*" in self.namespaces or namespace in self.namespaces

    def function_arn(self, name: str) -> str:
        return f"arn:{self.partition}:lambda:{self.region}:{self.account}:function:{name}"


def parse(raw: str) -> tuple[AwsConnection, ...]:
    """The connections of the setting's JSON; ValueError naming the entry and what to change."""
    if not raw.strip():
        return ()
    try:
        entries = json.loads(raw)
    except ValueError as error:
        raise ValueError(f"{VARIABLE} is not JSON ({error}); give a list of {SHAPE}") from error
    if not isinstance(entries, list) or not all(isinstance(entry, Mapping) for entry in entries):
        raise ValueError(f"{VARIABLE} must be a JSON list of {SHAPE}")
    found: dict[str, AwsConnection] = {}
    for entry in entries:
        connection = _connection(entry)
        if connection.name in found or connection.name == DEFAULT:
            raise ValueError(f"{VARIABLE}: connection {connection.name!r} is given twice ('default' is the one made "
                             "of LS_LAMBDA_REGION_CUSTOM_METRICS and LS_LAMBDA_ROLE_CUSTOM_METRICS)")
        found[connection.name] = connection
    return tuple(found.values())


def _connection(entry: Mapping) -> AwsConnection:
    name = str(entry.get("name") or "")
    if not _NAME.match(name):
        raise ValueError(f"{VARIABLE}: connection name {name!r} must be a DNS label (e.g. production)")
    where = f"{VARIABLE}: connection {name!r}"
    unknown = sorted(set(entry) - {"name", "roleArn", "region", "executionRoleArn", "namespaces", "externalId",
                                   "requestsPerSecond"})
    if unknown:
        raise ValueError(f"{where} has {', '.join(unknown)}, which is not a field; the fields are {SHAPE}")
    role, execution = str(entry.get("roleArn") or ""), str(entry.get("executionRoleArn") or "")
    for field, arn in (("roleArn", role), ("executionRoleArn", execution)):
        if not ROLE_ARN.match(arn):
            raise ValueError(f"{where}: {field} {arn!r} is not an IAM role ARN; use e.g. "
                             "arn:aws:iam::123456789012:role/LSE_CustomMetricsExecuteRole")
    region = str(entry.get("region") or "")
    if not REGION.match(region):
        raise ValueError(f"{where}: region {region!r} is not an AWS region name; use e.g. eu-west-1")
    external_id = entry.get("externalId")
    if external_id is not None and not (isinstance(external_id, str) and _EXTERNAL_ID.match(external_id)):
        raise ValueError(f"{where}: externalId must be 2-1224 letters, digits or +=,.@:/-")
    return AwsConnection(name, region, execution, _namespaces(entry.get("namespaces"), where), role,
                         external_id, _rate(entry.get("requestsPerSecond"), where))


def _namespaces(listed: object, where: str) -> tuple[str, ...]:
    if not isinstance(listed, list) or not listed:
        raise ValueError(f"{where}: namespaces must list the namespaces it serves (or [\"*\"] for every one): "
                         "a connection to an account serves only the namespaces named")
    for namespace in listed:
        if namespace != "*" and not (isinstance(namespace, str) and _NAME.match(namespace)):
            raise ValueError(f"{where}: {namespace!r} in namespaces is not a namespace name")
    return tuple(listed)


def _rate(raw: object, where: str) -> float | None:
    if raw is None:
        return None
    if isinstance(raw, bool) or not isinstance(raw, int | float) or not 0.1 <= raw <= 10000:
        raise ValueError(f"{where}: requestsPerSecond must be a number from 0.1 to 10000 (its share of Lambda's "
                         "15 requests per second in that account and region)")
    return float(raw)
