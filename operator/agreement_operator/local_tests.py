"""`agreement-operator test`: a manifest's tests through its packaged handler, in a subprocess."""

import json

from agreement_operator import local_invoke, packaging, smoke_tests
from agreement_operator.metric_spec import MetricSpec


def run(spec: MetricSpec, tests: list[dict]) -> smoke_tests.Report:
    zip_bytes = packaging.build_zip(spec.code)
    return smoke_tests.run(
        tests, lambda event: local_invoke.invoke(zip_bytes, event, spec.timeout_seconds, spec.memory_mb)
    )


def table(report: smoke_tests.Report) -> str:
    rows = [("TEST", "EXPECTED", "ACTUAL", "RESULT", "ERROR")]
    for result in report.results:
        rows.append((result.name, _show(result.expected), _show(result.actual) if result.error is None else "-",
                     "pass" if result.passed else "FAIL", result.error or ""))
    widths = [max(len(row[column]) for row in rows) for column in range(4)]
    lines = ["  " + "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=False)) + "  " + row[4]
             for row in rows]
    return "\n".join(line.rstrip() for line in lines)


def _show(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, dict):
        return json.dumps({key: round(item, 6) if isinstance(item, float) else item
                           for key, item in value.items()}, separators=(",", ":"))
    return json.dumps(value)
