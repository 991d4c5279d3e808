"""What can go wrong while reconciling, split by what helps: waiting, or a change by the user.

No client library is imported here: aws_errors classifies AWS errors, the Kubernetes
and Label Studio paths raise these directly.

PermanentFailure -> Stalled, no retry until the resource changes.
RetryableFailure -> Reconciling, retried after `delay` seconds.
"""

DEFAULT_RETRY_DELAY = 15.0


class ReconcileFailure(Exception):
    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


class PermanentFailure(ReconcileFailure):
    """Only a change by the user can help: Stalled."""


class RetryableFailure(ReconcileFailure):
    """Likely to pass by itself: Reconciling, tried again after `delay` seconds."""

    def __init__(self, reason: str, message: str, delay: float = DEFAULT_RETRY_DELAY) -> None:
        super().__init__(reason, message)
        self.delay = delay
