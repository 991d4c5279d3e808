"""AWS errors classified into the taxonomy of failures.py (what waiting fixes, and what only the user can),
and the boto3 clients they come from."""

import re
from collections.abc import Iterator
from contextlib import contextmanager

from botocore.config import Config as BotoConfig
from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

from agreement_operator.failures import PermanentFailure, QuotaWait, ReconcileFailure, RetryableFailure
from agreement_operator.lambda_target import aws_session
from agreement_operator.lambda_target.budget import Budget

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
THROTTLING_CODES = frozenset({"TooManyRequestsException", "ThrottlingException", "Throttling",
                              "RequestLimitExceeded", "ThrottledException"})
_ACCESS_DENIED_CODES = {"AccessDeniedException", "AccessDenied", "UnauthorizedOperation", "403"}
_CREDENTIAL_CODES = ("UnrecognizedClientException", "InvalidSignatureException", "SignatureDoesNotMatch",
                     "ExpiredToken", "InvalidClientTokenId")
_DENIED_ACTION = re.compile(r"not authorized to perform: ([\w-]+:\w+)")


# One attempt per call: a throttled or failed call ends the pass, which comes back after the budget's
# slot or a backoff (failures.backoff) instead of sleeping in botocore while it holds a worker.
ATTEMPTS_PER_CALL = 1


def client(service: str, region: str, endpoint_url: str | None, pool_connections: int, session=None):
    """A boto3 client of the operator's: one attempt per call, a connection per worker, named in User-Agent;
    from `session` (None: the operator's own credentials)."""
    settings = BotoConfig(retries={"mode": "standard", "total_max_attempts": ATTEMPTS_PER_CALL},
                          user_agent_extra="agreement-operator", max_pool_connections=pool_connections)
    return (session or aws_session.session()).client(service, region_name=region, endpoint_url=endpoint_url,
                                                     config=settings)


@contextmanager
def call(operation: str, target: str, service: str = "lambda", budget: Budget | None = None,
         urgent: bool = False, key: str | None = None) -> Iterator[None]:
    """Around one AWS call: paid from `budget` (QuotaWait when it is spent: come back at the call's
    slot, kept under `key`, the target by default); its botocore errors leave classified (from_aws),
    and a 429 slows the budget down."""
    if budget is not None and (wait := budget.take(key or target, urgent)):
        raise QuotaWait(f"{service}:{operation} on {target} has its turn in {wait:.1f} s: waiting for the "
                        f"operator's share of the AWS quota ({budget.describe()})", delay=wait)
    try:
        yield
    except (ClientError, BotoCoreError) as error:
        if budget is not None and throttled(error):
            budget.throttled()
        raise from_aws(error, operation, target, service) from error


def throttled(error: Exception) -> bool:
    """Whether AWS refused the call for its rate (429)."""
    if not isinstance(error, ClientError):
        return False
    status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
    return status == 429 or error.response.get("Error", {}).get("Code") in THROTTLING_CODES


def not_found(error: ClientError) -> bool:
    """Whether AWS answered that the function (or log group) does not exist."""
    return error.response.get("Error", {}).get("Code") == "ResourceNotFoundException"


def already_exists(error: ClientError) -> bool:
    """Whether CreateFunction was refused because a function of that name exists (Lambda answers 409
    ResourceConflictException "Function already exist"; other 409s mean a function busy with an update)."""
    body = error.response.get("Error", {})
    return body.get("Code") == "ResourceConflictException" and "already exist" in str(body.get("Message", ""))


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
    if code in _ACCESS_DENIED_CODES and getattr(error, "operation_name", "") == "AssumeRole":
        return PermanentFailure(  # raised while the client fetched its AWS connection's credentials
            "AccessDenied",
            f"AWS denied sts:AssumeRole, so {service}:{operation} on {target} could not be made: {text}; allow "
            "sts:AssumeRole of the connection's roleArn in the operator's policy "
            "(iam/operator-assume-roles-policy.json) and trust the operator's role, with the connection's "
            "externalId, in that role's trust policy (iam/target-account-trust-policy.json)",
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
