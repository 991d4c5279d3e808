"""Errors a deployed metric raised, read from its log lines, in the shape status.functionErrors takes.

Functions of the operator's own log each error the wrapper returns as one line of JSON,
{"agreement_error": {"type": ..., "message": ..., "line": ...}} (agreement_handler.py), and
Lambda logs "Task timed out after N seconds": `wrapper_error` reads those, and only those, so
an error is counted once. A Label Studio project's function runs Label Studio's own wrapper,
whose errors Lambda's Python runtime logs either as text,

    [ERROR] KeyError: 'value'
    Traceback (most recent call last):
      File "/var/task/lambda_function.py", line 12, in agreement

or, with JSON logging, as {"errorType": "KeyError", "errorMessage": "'value'", "stackTrace": [...]}:
`parse` reads every form. Other lines are not errors.
"""

import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass

# The key of the wrapper's error lines (agreement_handler.LOG_KEY: the operator never imports the wrapper).
LOG_KEY = "agreement_error"
RECENT = 5  # errors kept in status: the newest
_MESSAGE_CHARS = 500
_ERROR_LINE = re.compile(r"^\[ERROR\]\s+(?:[\d\-T:.Z]+\s+)?(?:[0-9a-f-]{36}\s+)?(?P<type>[A-Za-z_][\w.]*)"
                         r"(?::\s*(?P<message>.*))?$", re.MULTILINE)
_LAST_FRAME_LINE = re.compile(r'File "[^"]*", line (\d+)')
_TIMED_OUT = re.compile(r"Task timed out after ([\d.]+) seconds")
_EXCEPTION_AFTER_TRACEBACK = re.compile(r"^(?P<type>[A-Za-z_][\w.]*(?:Error|Exception|Exit|Interrupt|Warning))"
                                        r"(?::\s*(?P<message>.*))?$", re.MULTILINE)


@dataclass(frozen=True)
class LogLine:
    """One entry of a function's log: when (RFC 3339, or as the source gave it) and what."""

    time: str
    message: str


@dataclass(frozen=True)
class FunctionError:
    time: str
    type: str
    message: str
    line: int | None = None


def wrapper_error(line: LogLine) -> FunctionError | None:
    """The error the operator's wrapper logged on this line, or Lambda's timeout; None otherwise."""
    record = _wrapper_record(line.message)
    if record is not None:
        if "suppressed" in record:
            return None
        number = record.get("line")
        return FunctionError(line.time, str(record.get("type", "")), str(record.get("message", ""))[:_MESSAGE_CHARS],
                             number if isinstance(number, int) and not isinstance(number, bool) else None)
    if timed_out := _TIMED_OUT.search(line.message):
        return FunctionError(line.time, "Sandbox.Timedout", f"Task timed out after {timed_out[1]} seconds")
    return None


def suppressed(line: LogLine) -> int:
    """How many further errors the wrapper left out of the log on this line (it logs a few per invocation)."""
    record = _wrapper_record(line.message)
    count = record.get("suppressed") if record else None
    return count if isinstance(count, int) and not isinstance(count, bool) and count > 0 else 0


def _wrapper_record(text: str) -> Mapping | None:
    text = text.strip()
    if not text.startswith("{") or LOG_KEY not in text:
        return None
    try:
        record = json.loads(text)
    except ValueError:
        return None
    inner = record.get(LOG_KEY) if isinstance(record, Mapping) else None
    return inner if isinstance(inner, Mapping) else None


def parse(line: LogLine) -> FunctionError | None:
    """The error a log line reports, in any of the forms above, or None."""
    if (ours := wrapper_error(line)) is not None:
        return ours
    text = line.message.strip()
    if text.startswith("{"):
        return _from_json(line.time, text)
    match = _ERROR_LINE.search(text)
    if match is None and "Traceback (most recent call last)" in text:
        match = _EXCEPTION_AFTER_TRACEBACK.search(text)
    if match is None:
        return None
    frames = _LAST_FRAME_LINE.findall(text)
    return FunctionError(line.time, match["type"], (match["message"] or "").strip()[:500],
                         int(frames[-1]) if frames else None)


def _from_json(time: str, text: str) -> FunctionError | None:
    try:
        record = json.loads(text)
    except ValueError:
        return None
    if not isinstance(record, Mapping) or "errorType" not in record:
        return None
    frames = _LAST_FRAME_LINE.findall("\n".join(str(frame) for frame in record.get("stackTrace") or []))
    return FunctionError(time, str(record["errorType"]), str(record.get("errorMessage", ""))[:500],
                         int(frames[-1]) if frames else None)


def summarize(lines: Sequence[LogLine], since: str | None,
              read: Callable[[LogLine], FunctionError | None] = parse) -> dict:
    """status.functionErrors: how many errors the lines hold (oldest line first), and the newest few;
    `since` when the lines start at a date rather than cover a window."""
    found = [error for error in map(read, lines) if error is not None]
    summary = {} if since is None else {"since": since}
    return {
        **summary,
        "count": len(found) + sum(map(suppressed, lines)),
        "recent": [{key: value for key, value in asdict(error).items() if value is not None}
                   for error in found[-RECENT:]],
    }


def new_errors(summary: Mapping, previous: Mapping | None) -> list[Mapping]:
    """Errors in `summary` that `previous` (the last status) did not show yet."""
    seen = {json.dumps(error, sort_keys=True) for error in (previous or {}).get("recent") or []}
    return [error for error in summary.get("recent") or [] if json.dumps(error, sort_keys=True) not in seen]


def describe(errors: Sequence[Mapping]) -> str:
    newest = errors[-1]
    where = f" at line {newest['line']}" if newest.get("line") else ""
    more = f" ({len(errors)} new errors)" if len(errors) > 1 else ""
    return f"the metric raised {newest['type']}: {newest.get('message', '')}{where}{more}"
