"""Errors a deployed metric raised, read from its log lines, in the shape status.functionErrors takes.

Lambda's Python runtime logs an unhandled exception either as text,

    [ERROR] KeyError: 'value'
    Traceback (most recent call last):
      File "/var/task/lambda_function.py", line 12, in agreement

or, with JSON logging, as {"errorType": "KeyError", "errorMessage": "'value'", "stackTrace": [...]}.
Both are understood; other lines are not errors.
"""

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass

from agreement_operator.label_studio_api import LogLine

RECENT = 5  # errors kept in status: the newest
_ERROR_LINE = re.compile(r"^\[ERROR\]\s+(?:[\d\-T:.Z]+\s+)?(?:[0-9a-f-]{36}\s+)?(?P<type>[A-Za-z_][\w.]*)"
                         r"(?::\s*(?P<message>.*))?$", re.MULTILINE)
_LAST_FRAME_LINE = re.compile(r'File "[^"]*", line (\d+)')
_EXCEPTION_AFTER_TRACEBACK = re.compile(r"^(?P<type>[A-Za-z_][\w.]*(?:Error|Exception|Exit|Interrupt|Warning))"
                                        r"(?::\s*(?P<message>.*))?$", re.MULTILINE)


@dataclass(frozen=True)
class FunctionError:
    time: str
    type: str
    message: str
    line: int | None = None


def parse(line: LogLine) -> FunctionError | None:
    """The error a log line reports, or None."""
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


def summarize(lines: Sequence[LogLine], since: str) -> dict:
    """status.functionErrors: how many errors the lines hold since `since`, and the newest few."""
    found = [error for error in map(parse, lines) if error is not None]
    return {
        "since": since,
        "count": len(found),
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
