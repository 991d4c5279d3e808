"""Errors read from a function's log lines: Lambda's text and JSON formats, and what counts as new."""

import json

from agreement_operator.function import log_errors
from agreement_operator.function.log_errors import LogLine

TEXT = ("[ERROR] KeyError: 'choices'\nTraceback (most recent call last):\n"
        '  File "/var/task/lambda_function.py", line 30, in handler\n'
        '  File "/var/task/metric.py", line 4, in agreement\n')


def test_lambdas_text_error_record():
    error = log_errors.parse(LogLine("t1", TEXT))
    assert error == log_errors.FunctionError("t1", "KeyError", "'choices'", 4)


def test_lambdas_json_error_record():
    record = {"errorType": "ZeroDivisionError", "errorMessage": "division by zero", "requestId": "r",
              "stackTrace": ['  File "/var/task/metric.py", line 9, in agreement\n    return a / b\n']}
    error = log_errors.parse(LogLine("t2", json.dumps(record)))
    assert error == log_errors.FunctionError("t2", "ZeroDivisionError", "division by zero", 9)


def test_a_bare_traceback_names_its_exception():
    text = 'Traceback (most recent call last):\n  File "metric.py", line 2, in agreement\nTypeError: bad operand\n'
    expected = log_errors.FunctionError("t", "TypeError", "bad operand", 2)
    assert log_errors.parse(LogLine("t", text)) == expected


def test_other_lines_are_not_errors():
    for text in ("START RequestId: 1 Version: $LATEST", "REPORT RequestId: 1 Duration: 2 ms", '{"level": "INFO"}',
                 "computing the agreement of 2 annotations"):
        assert log_errors.parse(LogLine("t", text)) is None


def test_summary_keeps_the_newest_and_new_errors_are_those_not_shown_before():
    lines = [LogLine(f"t{n}", f"[ERROR] ValueError: case {n}") for n in range(8)] + [LogLine("t9", "ok")]
    summary = log_errors.summarize(lines, "2026-11-22")
    assert summary["count"] == 8 and len(summary["recent"]) == log_errors.RECENT
    assert summary["recent"][-1] == {"time": "t7", "type": "ValueError", "message": "case 7"}
    assert log_errors.new_errors(summary, summary) == []
    later = log_errors.summarize([*lines, LogLine("t10", "[ERROR] KeyError: 'x'")], "2026-11-22")
    fresh = log_errors.new_errors(later, summary)
    assert fresh == [{"time": "t10", "type": "KeyError", "message": "'x'"}]
    assert log_errors.describe(fresh) == "the metric raised KeyError: 'x'"


def wrapper_line(**error) -> LogLine:
    return LogLine("2026-12-01T10:00:00Z", json.dumps({log_errors.LOG_KEY: error}))


def test_the_wrapper_and_the_operator_agree_on_the_key():
    from agreement_operator.function import agreement_handler

    assert agreement_handler.LOG_KEY == log_errors.LOG_KEY


def test_the_wrappers_lines_and_lambdas_timeout_are_the_errors_of_a_function_of_ours():
    lines = [
        LogLine("t0", "START RequestId: 1 Version: $LATEST"),
        wrapper_line(index=3, type="KeyError", message="'choices'", line=7),
        # Lambda's own record of the same single-pair failure: not counted twice.
        LogLine("t1", TEXT),
        wrapper_line(suppressed=120),
        LogLine("t2", "2026-12-01T10:00:01.000Z 5f0e Task timed out after 3.00 seconds"),
    ]
    summary = log_errors.summarize(lines, "2026-12-01T09:00:00Z", log_errors.wrapper_error)
    assert summary["count"] == 1 + 120 + 1
    assert summary["recent"] == [
        {"time": "2026-12-01T10:00:00Z", "type": "KeyError", "message": "'choices'", "line": 7},
        {"time": "t2", "type": "Sandbox.Timedout", "message": "Task timed out after 3.00 seconds"},
    ]


def test_what_the_wrapper_really_logs_is_read_back(tmp_path):
    """The packaged handler, run in a subprocess: its log lines give the errors it returned."""
    from agreement_operator.function import local_invoke, packaging

    code = "def agreement(a, b, per_label=False):\n    return a['result'][0]['value']['choices'] == []\n"
    event = {"pairs": [{"annotation_1": {"result": []}, "annotation_2": {}}] * 60}
    answer = local_invoke.invoke(packaging.build_zip(code), event)
    lines = [LogLine("t", text) for text in answer.log.splitlines()]
    summary = log_errors.summarize(lines, "t", log_errors.wrapper_error)
    assert summary["count"] == 60 == len(answer.payload["errors"])
    assert summary["recent"][-1] == {"time": "t", "type": "IndexError", "message": "list index out of range",
                                     "line": 2}
    assert len(lines) == 51  # 50 lines, then how many more
