"""Errors read from a function's log lines: Lambda's text and JSON formats, and what counts as new."""

import json

from agreement_operator import function_errors
from agreement_operator.label_studio_api import LogLine

TEXT = ("[ERROR] KeyError: 'choices'\nTraceback (most recent call last):\n"
        '  File "/var/task/lambda_function.py", line 30, in handler\n'
        '  File "/var/task/metric.py", line 4, in agreement\n')


def test_lambdas_text_error_record():
    error = function_errors.parse(LogLine("t1", TEXT))
    assert error == function_errors.FunctionError("t1", "KeyError", "'choices'", 4)


def test_lambdas_json_error_record():
    record = {"errorType": "ZeroDivisionError", "errorMessage": "division by zero", "requestId": "r",
              "stackTrace": ['  File "/var/task/metric.py", line 9, in agreement\n    return a / b\n']}
    error = function_errors.parse(LogLine("t2", json.dumps(record)))
    assert error == function_errors.FunctionError("t2", "ZeroDivisionError", "division by zero", 9)


def test_a_bare_traceback_names_its_exception():
    text = 'Traceback (most recent call last):\n  File "metric.py", line 2, in agreement\nTypeError: bad operand\n'
    expected = function_errors.FunctionError("t", "TypeError", "bad operand", 2)
    assert function_errors.parse(LogLine("t", text)) == expected


def test_other_lines_are_not_errors():
    for text in ("START RequestId: 1 Version: $LATEST", "REPORT RequestId: 1 Duration: 2 ms", '{"level": "INFO"}',
                 "computing the agreement of 2 annotations"):
        assert function_errors.parse(LogLine("t", text)) is None


def test_summary_keeps_the_newest_and_new_errors_are_those_not_shown_before():
    lines = [LogLine(f"t{n}", f"[ERROR] ValueError: case {n}") for n in range(8)] + [LogLine("t9", "ok")]
    summary = function_errors.summarize(lines, "2026-11-22")
    assert summary["count"] == 8 and len(summary["recent"]) == function_errors.RECENT
    assert summary["recent"][-1] == {"time": "t7", "type": "ValueError", "message": "case 7"}
    assert function_errors.new_errors(summary, summary) == []
    later = function_errors.summarize([*lines, LogLine("t10", "[ERROR] KeyError: 'x'")], "2026-11-22")
    fresh = function_errors.new_errors(later, summary)
    assert fresh == [{"time": "t10", "type": "KeyError", "message": "'x'"}]
    assert function_errors.describe(fresh) == "the metric raised KeyError: 'x'"
