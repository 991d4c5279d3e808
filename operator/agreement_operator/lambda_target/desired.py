"""What a metric's Lambda function should look like: spec in, plain data out, no AWS calls."""

from dataclasses import dataclass

from agreement_operator.function import packaging
from agreement_operator.metric import naming, tags
from agreement_operator.metric.owner import Owner
from agreement_operator.metric.spec import MetricSpec


@dataclass(frozen=True)
class DesiredFunction:
    name: str
    configuration: dict[str, object]
    tags: dict[str, str]
    zip_bytes: bytes
    code_sha256: str


def desired_function(spec: MetricSpec, owner: Owner, execution_role_arn: str) -> DesiredFunction:
    zip_bytes = packaging.build_zip(spec.code)
    return DesiredFunction(
        name=naming.function_name(spec.prefix, owner.namespace, owner.name),
        configuration=desired_configuration(spec, owner, execution_role_arn),
        tags=tags.desired_tags(spec.tags, owner),
        zip_bytes=zip_bytes,
        code_sha256=packaging.code_sha256(zip_bytes),
    )


def desired_configuration(spec: MetricSpec, owner: Owner, execution_role_arn: str) -> dict[str, object]:
    """The CreateFunction / UpdateFunctionConfiguration arguments the operator manages (the execution role: the
    connection's, in the function's account)."""
    return {
        "Runtime": spec.runtime,
        "Role": execution_role_arn,
        "Handler": packaging.HANDLER,
        "Timeout": spec.timeout_seconds,
        "MemorySize": spec.memory_mb,
        "Description": spec.description
        or f"Label Studio agreement metric {owner.namespace}/{owner.name} (agreement-operator)"[:256],
    }
