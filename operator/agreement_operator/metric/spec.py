"""The `spec` of an AgreementMetric, read and checked without touching AWS."""

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from agreement_operator.metric import code_checks, naming, tags

DEFAULT_RUNTIME = "python3.12"
DEFAULT_TIMEOUT_SECONDS = 30
DEFAULT_MEMORY_MB = 256
DELETION_POLICIES = ("Delete", "Retain")
MAX_DESCRIPTION = 256
_CONNECTION = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
# Lambda settings of a function the operator owns; with spec.labelStudio, Label Studio owns the function.
LAMBDA_ONLY_FIELDS = ("prefix", "tags", "runtime", "memoryMB", "timeoutSeconds", "description")


def target_name(spec: Mapping) -> str:
    """Where the metric deploys: "label_studio" through a Label Studio project (spec.labelStudio), else
    "lambda", a Lambda function of its own."""
    return "label_studio" if spec.get("labelStudio") else "lambda"


def lambda_only_message(key: str) -> str:
    """Also the CRD's message for the same rule (tests compare them)."""
    return (f"spec.{key} is a Lambda setting, and with spec.labelStudio Label Studio deploys the function "
            f"with its own settings: remove spec.{key}")


@dataclass(frozen=True)
class Problem:
    """One reason a metric cannot be deployed, with its line in the metric code if it has one."""

    message: str
    line: int | None = None
    reason: str = "InvalidSpec"

    def __str__(self) -> str:
        return f"line {self.line}: {self.message}" if self.line else self.message


@dataclass(frozen=True)
class MetricSpec:
    code: str
    prefix: str = ""
    tags: Mapping[str, str] = field(default_factory=dict)
    runtime: str = DEFAULT_RUNTIME
    timeout_seconds: int = DEFAULT_TIMEOUT_SECONDS
    memory_mb: int = DEFAULT_MEMORY_MB
    description: str | None = None
    deletion_policy: str = "Delete"
    warnings: tuple[str, ...] = ()  # deployable, but worth a look (e.g. imports Lambda lacks)


def parse(spec: Mapping) -> tuple[MetricSpec | None, list[Problem]]:
    """Read `spec` into a MetricSpec, or say every problem that stops it being deployed.

    `spec.codeFrom` must already be resolved into `spec.code` (see code_from).
    """
    problems = shape_problems(spec)
    code = spec.get("code")
    if isinstance(code, str):
        # Editors on Windows save a byte-order mark; Python ignores it, so it only gets in the way.
        code = code.removeprefix(code_checks.BYTE_ORDER_MARK)
    problems.extend(
        Problem(found.message, found.line, reason="InvalidCode") for found in code_checks.check_code(code)
    )
    if problems or not isinstance(code, str):
        return None, problems
    return MetricSpec(
        code=code,
        prefix=spec.get("prefix") or "",
        tags=dict(spec.get("tags") or {}),
        runtime=spec.get("runtime", DEFAULT_RUNTIME),
        timeout_seconds=spec.get("timeoutSeconds", DEFAULT_TIMEOUT_SECONDS),
        memory_mb=spec.get("memoryMB", DEFAULT_MEMORY_MB),
        description=spec.get("description"),
        deletion_policy=spec.get("deletionPolicy", "Delete"),
        warnings=tuple(str(Problem(found.message, found.line)) for found in code_checks.unavailable_imports(code)),
    ), []


def shape_problems(spec: Mapping) -> list[Problem]:
    """Checks of everything but the code; the CRD schema enforces most, `validate` needs them all."""
    problems = [Problem(message) for message in tags.user_tag_problems(spec.get("tags"))]
    if "code" in spec and "codeFrom" in spec:
        problems.append(Problem("spec.code and spec.codeFrom are both set; keep exactly one"))
    if message := naming.prefix_problem(spec.get("prefix")):
        problems.append(Problem(message, reason="InvalidName"))
    problems += _bounded_int(spec, "timeoutSeconds", 1, 900, "seconds")
    problems += _bounded_int(spec, "memoryMB", 128, 10240, "MB")
    runtime = spec.get("runtime", DEFAULT_RUNTIME)
    if not (isinstance(runtime, str) and runtime.startswith("python3.")):
        problems.append(Problem(
            f"spec.runtime {runtime!r} is not a Python 3 Lambda runtime; use e.g. {DEFAULT_RUNTIME!r}"))
    policy = spec.get("deletionPolicy", "Delete")
    if policy not in DELETION_POLICIES:
        problems.append(Problem(f"spec.deletionPolicy {policy!r} must be 'Delete' or 'Retain'"))
    description = spec.get("description")
    if description is not None and (not isinstance(description, str) or len(description) > MAX_DESCRIPTION):
        problems.append(Problem(f"spec.description must be a string of at most {MAX_DESCRIPTION} characters"))
    return problems + _label_studio_problems(spec) + _aws_problems(spec)


def _aws_problems(spec: Mapping) -> list[Problem]:
    place = spec.get("aws")
    if place is None:
        return []
    if not isinstance(place, Mapping):
        return [Problem("spec.aws must be an object: {connection: NAME}")]
    problems = []
    if spec.get("labelStudio"):
        problems.append(Problem("spec.aws picks the AWS account of a Lambda function of the operator's own, and with "
                                "spec.labelStudio Label Studio deploys the function: remove spec.aws"))
    connection = place.get("connection")
    if connection is not None and (not isinstance(connection, str) or not _CONNECTION.match(connection)):
        problems.append(Problem(f"spec.aws.connection is {connection!r}; use the name of one of the operator's AWS "
                                "connections (a DNS label, e.g. production), or leave it out"))
    return problems


def aws_connection(spec: Mapping) -> str:
    """The AWS connection a Lambda metric names (spec.aws.connection), `default` when it names none."""
    return (spec.get("aws") or {}).get("connection") or "default"


def _label_studio_problems(spec: Mapping) -> list[Problem]:
    target = spec.get("labelStudio")
    if target is None:
        return []
    if not isinstance(target, Mapping):
        return [Problem("spec.labelStudio must be an object: {project: ID, metricName: NAME}")]
    problems = [Problem(lambda_only_message(key)) for key in LAMBDA_ONLY_FIELDS if key in spec]
    project = target.get("project")
    if isinstance(project, bool) or not isinstance(project, int) or project < 1:
        problems.append(Problem(f"spec.labelStudio.project is {project!r}; use the project's id, the number in "
                                "its address (/projects/ID/)"))
    name = target.get("metricName")
    if name is not None and (not isinstance(name, str) or not name.strip()):
        problems.append(Problem("spec.labelStudio.metricName must be a non-empty string, or left out"))
    connection = target.get("connection")
    if connection is not None and (not isinstance(connection, str) or not _CONNECTION.match(connection)):
        problems.append(Problem(f"spec.labelStudio.connection is {connection!r}; use the name of one of the "
                                "operator's Label Studio connections (a DNS label, e.g. team-a), or leave it out"))
    return problems


def _bounded_int(spec: Mapping, key: str, low: int, high: int, unit: str) -> list[Problem]:
    value = spec.get(key)
    if value is None:
        return []
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        return [Problem(f"spec.{key} is {value!r}; use a whole number of {unit} from {low} to {high}")]
    return []
