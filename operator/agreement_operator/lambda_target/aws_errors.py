"""AWS errors classified into the taxonomy of failures.py (what waiting fixes, and what only the user can),
and the boto3 clients they come from."""

import re
from collections.abc import Iterator
from contextlib import contextmanager

import boto3
from botocore.config import Config as BotoConfig
from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

from agreement_operator.failures import PermanentFailure, ReconcileFailure, RetryableFailure

_RETRYABLE_CODES = {
    "TooManyRequestsException", "ThrottlingException", "Throttling", "RequestLimitExceeded",
    "ServiceException", "ServiceUnavailableException", "InternalFailure",
    "ResourceConflictException", "ResourceNotReadyException", "PreconditionFailedException",
    "EC2ThrottledException", "ENILimitReachedException", "CodeArtifactUserPendingException",
}
# What Invoke answers while the function cannot run yet: Inactive and being restored (502, then 409
# while Pending), the code of a fresh deploy not yet in place (409), or over the invoke quota (429).
NOT_READY_FOR_INVOKE = frozenset({
    "ResourceNotReadyException", "ResourceConflictException", "CodeArtifactUserPendingException",
    "TooManyRequestsException",
})
_ACCESS_DENIED_CODES = {"AccessDeniedException", "AccessDenied", "UnauthorizedOperation", "403"}
_CREDENTIAL_CODES = ("UnrecognizedClientException", "InvalidSignatureException", "SignatureDoesNotMatch",
                     "ExpiredToken", "InvalidClientTokenId")
_DENIED_ACTION = re.compile(r"not authorized to perform: ([\w-]+:\w+)")


def client(service: str, region: str, endpoint_url: str | None, retry_mode: str, max_attempts: int,
           pool_connections: int):
    """A boto3 client of the operator's: its retry mode and attempts, a connection per worker, named in User-Agent."""
    return boto3.client(service, region_name=region, endpoint_url=endpoint_url, config=BotoConfig(
        retries={"mode": retry_mode, "total_max_attempts": max_attempts}, user_agent_extra="agreement-operator",
        max_pool_connections=pool_connections))


@contextmanager
def call(operation: str, target: str, service: str = "lambda") -> Iterator[None]:
    """Around one AWS call: its botocore errors leave classified (from_aws)."""
    try:
        yield
    except (ClientError, BotoCoreError) as error:
        raise from_aws(error, operation, target, service) from error


def not_found(error: ClientError) -> bool:
    """Whether AWS answered that the function (or log group) does not exist."""
    return error.response.get("Error", {}).get("Code") == "ResourceNotFoundException"


def from_aws(error: Exception, operation: str, target: str, service: str = "lambda") -> ReconcileFailure:
    """Classify an error raised by an AWS call; `operation` is the API name, e.g. CreateFunction."""
    if isinstance(error, NoCredentialsError):
        return PermanentFailure(
            "NoCredentials",
            "no AWS credentials found; in EKS annotate the operator's ServiceAccount with the "
            "IRSA role (LSE_ServiceAccountApp), elsewhere set the standard AWS credential variables",
        )
    if isinstance(error, BotoCoreError):
        return RetryableFailure("AWSUnreachable", f"{service}:{operation} on {target} failed: {error}")
    if not isinstance(error, ClientError):
        raise TypeError(f"not an AWS error: {error!r}")
    body = error.response.get("Error", {})
    code = str(body.get("Code", ""))
    text = str(body.get("Message", "")) or str(error)
    status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
    if any(name in code or name in text for name in _CREDENTIAL_CODES):
        return PermanentFailure(
            "InvalidCredentials",
            f"AWS did not accept the operator's credentials for {service}:{operation}: {text}; "
            "check the IRSA role annotation or the AWS credential variables",
        )
    if code in _ACCESS_DENIED_CODES or status == 403:
        match = _DENIED_ACTION.search(text)
        action = match.group(1) if match else f"{service}:{operation}"
        return PermanentFailure(
            "AccessDenied",
            f"AWS denied {action} on {target}; grant {action} to the operator's IAM role "
            "(see iam/operator-policy.json)",
        )
    if code in _RETRYABLE_CODES or status >= 500 or status == 429:
        return RetryableFailure(code or "AWSServerError", f"{service}:{operation} on {target}: {text}",
                                delay=_retry_after(error.response))
    return PermanentFailure(
        "InvalidParameterValue" if code == "InvalidParameterValueException" else (code or "AWSRejected"),
        f"AWS rejected {service}:{operation} on {target}: {text}",
    )


def _retry_after(response: dict) -> float | None:
    """Lambda's throttling errors say when to come back: `retryAfterSeconds` (None: they did not say)."""
    for source in (response, response.get("Error", {})):
        value = source.get("retryAfterSeconds") or source.get("RetryAfterSeconds")
        if value:
            try:
                return max(1.0, float(value))
            except ValueError:
                break
    headers = response.get("ResponseMetadata", {}).get("HTTPHeaders", {})
    if headers.get("retry-after", "").isdigit():
        return max(1.0, float(headers["retry-after"]))
    return None
