"""`spec.tests`: run a metric's test pairs through its handler and compare with `expect`.

Shared by `agreement-operator test` (the handler in a local subprocess) and the operator's
smoke tests (the deployed Lambda function). Tests are sent as batch events, one per
per_label value, so a metric with any number of tests costs one or two invocations.
"""

import hashlib
import json
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from agreement_operator.function.invocation import Invocation

DEFAULT_TOLERANCE = 1e-6

Invoke = Callable[[dict], Invocation]


@dataclass(frozen=True)
class Result:
    name: str
    passed: bool
    expected: object
    actual: object = None
    error: str | None = None

    def as_status(self) -> dict:
        result = {"name": self.name, "passed": self.passed, "expected": self.expected, "actual": self.actual}
        if self.error:
            result["error"] = self.error
        return result


@dataclass(frozen=True)
class Report:
    results: list[Result] = field(default_factory=list)
    digest: str = ""

    @property
    def failed(self) -> list[Result]:
        return [result for result in self.results if not result.passed]

    @classmethod
    def from_status(cls, status: Mapping) -> "Report":
        results = [Result(r.get("name", ""), bool(r.get("passed")), r.get("expected"), r.get("actual"), r.get("error"))
                   for r in status.get("results") or []]
        return cls(results, status.get("digest", ""))

    def as_status(self) -> dict:
        total, failed = len(self.results), len(self.failed)
        return {"total": total, "passed": total - failed, "failed": failed, "summary": f"{total - failed}/{total}",
                "digest": self.digest, "results": [result.as_status() for result in self.results]}


def digest(code_sha256: str, tests: Sequence[Mapping]) -> str:
    """What a report is about: the deployed code and the tests. A new digest means run again."""
    text = json.dumps({"code": code_sha256, "tests": list(tests)}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def run(tests: Sequence[Mapping], invoke: Invoke, report_digest: str = "") -> Report:
    results: dict[int, Result] = {}
    for per_label in (False, True):
        indexes = [i for i, test in enumerate(tests) if bool(test.get("perLabel", False)) is per_label]
        if not indexes:
            continue
        event = {"per_label": per_label, "pairs": [
            {"annotation_1": tests[i].get("annotation1"), "annotation_2": tests[i].get("annotation2")}
            for i in indexes]}
        invocation = invoke(event)
        for position, index in enumerate(indexes):
            results[index] = _result(tests[index], invocation, position)
    return Report([results[i] for i in sorted(results)], report_digest)


def _result(test: Mapping, invocation: Invocation, position: int) -> Result:
    name, expected = str(test.get("name", f"test {position + 1}")), test.get("expect")
    if invocation.error is not None:
        return Result(name, False, expected, error=invocation.error)
    payload = invocation.payload if isinstance(invocation.payload, Mapping) else {}
    scores = payload.get("scores")
    if not isinstance(scores, list) or position >= len(scores):
        return Result(name, False, expected, error=f"the function answered {str(invocation.payload)[:200]!r}, "
                                                   "not a batch of scores")
    for error in payload.get("errors") or []:
        if error.get("index") == position:
            where = f" (metric.py, line {error['line']})" if error.get("line") else ""
            return Result(name, False, expected, error=f"{error.get('type')}: {error.get('message')}{where}")
    actual = scores[position]
    tolerance = float(test.get("tolerance", DEFAULT_TOLERANCE))
    return Result(name, matches(expected, actual, tolerance), expected, actual)


def matches(expected: object, actual: object, tolerance: float) -> bool:
    if isinstance(expected, Mapping):
        return (isinstance(actual, Mapping) and set(expected) == set(actual)
                and all(matches(expected[key], actual[key], tolerance) for key in expected))
    if isinstance(expected, bool) or isinstance(actual, bool):
        return False
    if not isinstance(expected, (int, float)) or not isinstance(actual, (int, float)):
        return False
    return math.isclose(float(expected), float(actual), rel_tol=0.0, abs_tol=tolerance)


def describe_failures(report: Report) -> str:
    parts = []
    for result in report.failed:
        reason = result.error or f"expected {json.dumps(result.expected)}, got {json.dumps(result.actual)}"
        parts.append(f"{result.name!r}: {reason}")
    return f"{len(report.failed)} of {len(report.results)} smoke tests failed: " + "; ".join(parts)
