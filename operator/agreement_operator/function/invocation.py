"""What a metric's function answered, wherever it ran (Lambda, a local process, the Lambda runtime)."""

from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class Invocation:
    payload: object
    # Lambda's FunctionError ("Unhandled"), None when the handler returned normally.
    function_error: str | None = None
    log: str = ""

    @property
    def error(self) -> str | None:
        """The failure as one line, `FunctionError (Unhandled): KeyError: 'result'`; None when it answered."""
        if self.function_error is None:
            return None
        return f"FunctionError ({self.function_error}): {describe_error_payload(self.payload)}"


def describe_error_payload(payload: object) -> str:
    """Lambda's error payload as `errorType: errorMessage`."""
    if not isinstance(payload, Mapping):
        return str(payload)
    return ": ".join(str(payload[key]) for key in ("errorType", "errorMessage") if payload.get(key))
