"""What state the sandbox's Lambda reports for each function, and what an Invoke meets: the lifecycle
moto leaves out (it answers every function Active, at once, forever).

* After CreateFunction a function is Pending for `pending_seconds`; after an update its
  LastUpdateStatus is InProgress for as long.
* A function neither invoked nor updated for `idle_seconds` (None: never) is Inactive
  (StateReasonCode Idle). Lambda accepts updates of an Inactive function; an update restores it.
* An Invoke of an Inactive function fails with 502 ResourceNotReadyException and starts a
  restore: Pending (StateReasonCode Restoring) for `restore_seconds`, every Invoke meanwhile
  answered 409 ResourceConflictException, then Active.
* For `code_pending_seconds` after a create or a code update, Invoke answers 409
  CodeArtifactUserPendingException, as Lambda does for a minute or two after a deploy.

Functions the sandbox's proxy never saw created or updated follow moto's answers.
"""

import threading
import time
from dataclasses import dataclass


@dataclass
class _Function:
    used: float  # the last create, update or invoke (time.monotonic())
    busy_until: float = 0.0
    busy: str = ""  # "create", "update" or "restore"
    code_ready_at: float = 0.0


@dataclass(frozen=True)
class Refusal:
    """What Invoke answers instead of running the function."""

    status: int
    error_type: str
    message: str


class Lifecycle:
    def __init__(self, pending_seconds: float = 0.0, idle_seconds: float | None = None, restore_seconds: float = 2.0,
                 code_pending_seconds: float = 0.0) -> None:
        self.pending_seconds, self.idle_seconds = pending_seconds, idle_seconds
        self.restore_seconds, self.code_pending_seconds = restore_seconds, code_pending_seconds
        self._functions: dict[str, _Function] = {}
        self._guard = threading.Lock()

    def changed(self, operation: str, name: str) -> None:
        """CreateFunction, UpdateFunctionCode or UpdateFunctionConfiguration was accepted for `name`."""
        now = time.monotonic()
        with self._guard:
            function = self._functions.setdefault(name, _Function(used=now))
            restoring = self._inactive(function, now)
            function.used = now
            kind = "create" if operation == "CreateFunction" else "restore-update" if restoring else "update"
            wait = max(self.pending_seconds, self.restore_seconds if restoring else 0.0)
            if wait:
                function.busy_until, function.busy = now + wait, kind
            if operation in ("CreateFunction", "UpdateFunctionCode") and self.code_pending_seconds:
                function.code_ready_at = now + self.code_pending_seconds

    def deleted(self, name: str) -> None:
        with self._guard:
            self._functions.pop(name, None)

    def describe(self, name: str, configuration: dict) -> None:
        """Put the function's State, StateReasonCode and LastUpdateStatus into Lambda's answer."""
        now = time.monotonic()
        with self._guard:
            function = self._functions.get(name)
            if function is None:
                return
            busy = function.busy if now < function.busy_until else ""
            inactive = not busy and self._inactive(function, now)
        if busy == "create":
            configuration.update(State="Pending", StateReasonCode="Creating", LastUpdateStatus="InProgress")
        elif busy == "update":
            configuration.update(State="Active", LastUpdateStatus="InProgress")
        elif busy in ("restore", "restore-update"):
            configuration.update(State="Pending", StateReasonCode="Restoring",
                                 StateReason="The function is being restored after it was idle.",
                                 LastUpdateStatus="InProgress" if busy == "restore-update" else "Successful")
        elif inactive:
            configuration.update(State="Inactive", StateReasonCode="Idle", LastUpdateStatus="Successful",
                                 StateReason="The function is inactive because it has not been invoked recently.")

    def admit_invoke(self, name: str) -> Refusal | None:
        """None when the function runs now (and counts as used); else what Lambda answers instead."""
        now = time.monotonic()
        with self._guard:
            function = self._functions.get(name)
            if function is None:
                return None
            if self._inactive(function, now):
                function.used = now
                function.busy_until, function.busy = now + self.restore_seconds, "restore"
                return Refusal(502, "ResourceNotReadyException",
                               "The operation cannot be performed at this time. The function is currently in the "
                               "following state: Inactive. Lambda is restoring it: retry once it is Active.")
            if now < function.busy_until and function.busy != "update":
                return Refusal(409, "ResourceConflictException",
                               "The operation cannot be performed at this time. The function is currently in the "
                               "following state: Pending")
            if now < function.code_ready_at:
                return Refusal(409, "CodeArtifactUserPendingException",
                               "Lambda is preparing the function's code artifact: retry in a moment.")
            function.used = now
        return None

    def _inactive(self, function: _Function, now: float) -> bool:
        idle = self.idle_seconds
        return idle is not None and now >= function.busy_until and now - function.used >= idle
