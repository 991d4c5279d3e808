"""`agreement-operator test FILE...`: each metric's spec.tests through its packaged handler, in a separate
process with the metric's time and memory limits, as a table."""

import argparse
import json
import sys
from pathlib import Path

from agreement_operator.function import local_invoke, packaging, smoke_tests
from agreement_operator.metric import manifests
from agreement_operator.metric.spec import MetricSpec


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("files", nargs="+", metavar="FILE", help="YAML files or directories")
    parser.add_argument("--pairs", type=Path, metavar="PAIRS.json",
                        help="a JSON list of test entries (shaped like spec.tests) to run instead")


def run(args: argparse.Namespace) -> int:
    found = manifests.load_files(args.files)
    for error in found.unreadable:
        print(error)
    failures = len(found.unreadable)
    pairs = json.loads(args.pairs.read_text()) if args.pairs else None
    passed = 0
    for metric in found.metrics:
        checked = manifests.check(metric, found.configmaps)
        if checked.note:
            print(checked.note, file=sys.stderr)
        print(f"{metric.path}: metric {metric.name}")
        if checked.spec is None:
            for problem in checked.problems:
                print(f"  {problem}")
            failures += 1
            continue
        tests = pairs if pairs is not None else list(metric.spec.get("tests") or [])
        if not tests:
            print("  no tests: add spec.tests or pass --pairs")
            continue
        report = run_tests(checked.spec, tests)
        print(table(report))
        failures += len(report.failed)
        passed += len(report.results) - len(report.failed)
    if not found.metrics:
        print("no AgreementMetric found in " + " ".join(args.files))
        return 1
    print(f"{passed} passed, {failures} failed")
    return 1 if failures else 0


def run_tests(spec: MetricSpec, tests: list[dict]) -> smoke_tests.Report:
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
