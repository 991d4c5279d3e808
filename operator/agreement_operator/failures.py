"""What can go wrong while reconciling, split by what helps: waiting, or a change by the user.

This module imports nothing else of the project and no client library: each client turns
its own errors into these (lambda_target/aws_errors.py for AWS, the HTTP clients directly).

PermanentFailure -> Stalled, no retry until the resource changes.
RetryableFailure -> Reconciling, retried after `delay` seconds (None: a jittered backoff).
InProgress       -> Reconciling while Lambda or Label Studio applies a change: not an error, come back soon.
QuotaWait        -> Reconciling (WaitingForQuota): the operator's share of an AWS quota is spent; come back
                    at the call's turn.
FieldsPruned     -> Reconciling (StatusFieldPruned): the apiserver dropped status fields its CRD lacks; the
                    operator checks the CRD at once, and tries again when it is current.
"""

import random

MAX_BACKOFF_SECONDS = 60.0


class ReconcileFailure(Exception):
    def __init__(self, reason: str, message: str, status: dict | None = None) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message
        self.status = status or {}  # the target's status fields to write with it (a change under way, say)


class PermanentFailure(ReconcileFailure):
    """Only a change by the user can help: Stalled."""


class RetryableFailure(ReconcileFailure):
    """Likely to pass by itself: Reconciling, tried again after `delay` seconds, or a backoff when None."""

    def __init__(self, reason: str, message: str, delay: float | None = None, status: dict | None = None) -> None:
        super().__init__(reason, message, status)
        self.delay = delay


class InProgress(RetryableFailure):
    """Lambda is still creating, updating or restoring the function, or another change waits for the next pass."""

    def __init__(self, reason: str, message: str, delay: float, status: dict | None = None) -> None:
        super().__init__(reason, message, delay, status)


class QuotaWait(InProgress):
    """The operator's share of an AWS quota is spent for now: the call has a turn `delay` seconds away."""

    def __init__(self, message: str, delay: float) -> None:
        super().__init__("WaitingForQuota", message, delay)


class FieldsPruned(RetryableFailure):
    """A status write was answered without some of its fields: the CRD in the cluster does not declare them
    (it is older than the operator), and the apiserver pruned them. `answer`: the object as written."""

    RETRY_SECONDS = 30.0

    def __init__(self, fields: list[str], answer: dict) -> None:
        self.fields, self.answer = fields, answer
        metadata = answer.get("metadata") or {}
        super().__init__("StatusFieldPruned", f"the apiserver dropped {', '.join(fields)} from the status of "
                         f"{metadata.get('namespace')}/{metadata.get('name')}: its CRD does not declare "
                         f"{'them' if len(fields) > 1 else 'it'}", self.RETRY_SECONDS)


# Stalled reasons that a change outside the resource can end: an IAM policy, credentials, Kubernetes RBAC,
# a Label Studio key, project or setting, a ConfigMap. The operator looks at such a metric again on its own
# schedule (controller/handlers.py), and it returns to Ready by itself once the cause is fixed. Every other
# Stalled reason (invalid code or spec, failed smoke tests, code Label Studio refused, an ownership conflict)
# waits for a change of the resource.
OUTSIDE_THE_RESOURCE = frozenset({
    "AccessDenied", "NoCredentials", "InvalidCredentials", "Forbidden",
    "LabelStudioUnauthorized", "LabelStudioForbidden", "LabelStudioConnectionNotFound",
    "LabelStudioNamespaceNotAllowed", "LabelStudioNotConfigured", "LambdaNotConfigured", "ProjectNotFound",
    "CustomMetricAPINotFound", "EditionUnsupported",
    "ConfigMapNotFound", "ConfigMapNotLabeled", "ConfigMapKeyNotFound",
    "AdoptionNotAllowed", "AwsConnectionNotFound", "AwsNamespaceNotAllowed",
})


def backoff(attempt: int) -> float:
    """Seconds before retry `attempt` (0, 1, ...) of a failed call: full jitter, capped.

    Throttled clients that back off by the same fixed time come back together; random
    delays under a growing ceiling spread them out.
    """
    return random.uniform(1.0, min(MAX_BACKOFF_SECONDS, 5.0 * 2 ** attempt))


def progress_delay(attempt: int) -> float:
    """Seconds before looking again at a function Lambda is busy with: short at first, then longer."""
    return min(10.0, 1.0 * 1.5 ** attempt) * random.uniform(0.9, 1.1)
