"""Answers the sandbox's AWS front door (lambda_proxy.py) gives instead of AWS's, for a while: the fault kit
of the end-to-end tests. A fault names an operation of Lambda, CloudWatch Logs or CloudWatch, the HTTP status
and the error type AWS would answer with, and how long it lasts; each service's answer is rendered in that
service's protocol (Lambda's REST JSON; the JSON of Logs and of CloudWatch, whose Smithy RPC v2 CBOR and
older query XML are rendered too), so botocore reads it as it reads AWS's own.

    proxy.faults.inject("CreateFunction", 403, "AccessDeniedException", "User ... is not authorized ...", 25)
    proxy.faults.inject("GetMetricData", 503, "ServiceUnavailable", "Service Unavailable", 20)
"""

import json
import re
import threading
import time
import urllib.parse
from collections import Counter
from dataclasses import dataclass

_CBOR_PATH = re.compile(r"/service/[^/]+/operation/([A-Za-z]+)$")


@dataclass(frozen=True)
class Fault:
    operation: str
    status: int
    error_type: str
    message: str
    until: float  # time.monotonic()
    retry_after: str | None = None


class Faults:
    """The faults in force, and how many calls each operation had answered by one."""

    def __init__(self) -> None:
        self._faults: list[Fault] = []
        self.answered: Counter[str] = Counter()
        self.seen: Counter[str] = Counter()  # every call of CloudWatch and Logs, by operation
        self._guard = threading.Lock()

    def inject(self, operation: str, status: int, error_type: str, message: str, seconds: float,
               retry_after: str | None = None) -> None:
        with self._guard:
            self._faults.append(Fault(operation, status, error_type, message, time.monotonic() + seconds,
                                      retry_after))

    def clear(self) -> None:
        with self._guard:
            self._faults.clear()

    def take(self, operation: str) -> Fault | None:
        """The fault answering this call of `operation`, if one is in force."""
        now = time.monotonic()
        with self._guard:
            self._faults = [fault for fault in self._faults if fault.until > now]
            found = next((fault for fault in self._faults if fault.operation == operation), None)
            if found is not None:
                self.answered[operation] += 1
            return found


def other_operation(path: str, headers, payload: bytes | None) -> tuple[str | None, str | None]:
    """(service, operation) of a call to CloudWatch Logs or CloudWatch; (None, None) for anything else."""
    target = headers.get("X-Amz-Target") or ""
    if "." in target:  # JSON: Logs (Logs_20140328.StartQuery), CloudWatch (GraniteServiceVersion20100801.X)
        return "json", target.rsplit(".", 1)[1]
    if match := _CBOR_PATH.search(path):
        return "cloudwatch-cbor", match.group(1)
    if payload and b"Action=" in payload and b"Version=2010-08-01" in payload:
        action = urllib.parse.parse_qs(payload.decode()).get("Action", [""])[0]
        return "cloudwatch-query", action or None
    return None, None


def answer(service: str, fault: Fault) -> tuple[int, bytes, dict]:
    """The fault as `service` answers an error: (status, body, headers)."""
    headers = {"Retry-After": fault.retry_after} if fault.retry_after else {}
    if service == "lambda":
        body = json.dumps({"Type": "User", "message": fault.message}).encode()
        return fault.status, body, {**headers, "x-amzn-ErrorType": fault.error_type,
                                    "Content-Type": "application/json"}
    if service == "json":
        body = json.dumps({"__type": fault.error_type, "message": fault.message}).encode()
        return fault.status, body, {**headers, "Content-Type": "application/x-amz-json-1.1"}
    if service == "cloudwatch-cbor":
        return fault.status, _cbor_map({"__type": fault.error_type, "message": fault.message}), {
            **headers, "smithy-protocol": "rpc-v2-cbor", "Content-Type": "application/cbor"}
    body = (f"<ErrorResponse><Error><Type>Sender</Type><Code>{fault.error_type}</Code>"
            f"<Message>{fault.message}</Message></Error><RequestId>fault</RequestId></ErrorResponse>").encode()
    return fault.status, body, {**headers, "Content-Type": "text/xml"}


def _cbor_map(fields: dict[str, str]) -> bytes:
    """A CBOR map of text strings (RFC 8949), all an error answer needs."""
    return _cbor_head(5, len(fields)) + b"".join(_cbor_text(key) + _cbor_text(value) for key, value in fields.items())


def _cbor_text(text: str) -> bytes:
    data = text.encode()
    return _cbor_head(3, len(data)) + data


def _cbor_head(major: int, length: int) -> bytes:
    if length < 24:
        return bytes([major << 5 | length])
    if length < 256:
        return bytes([major << 5 | 24, length])
    return bytes([major << 5 | 25]) + length.to_bytes(2, "big")
