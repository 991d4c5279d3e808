"""The Lambda entry point shipped in every metric's zip as `agreement_handler.py`.

The operator never imports this module: it only copies its source into the zip,
next to the user's code saved as `metric.py`. Lambda runs `agreement_handler.handler`.

Events (the invocation contract, README.md "What the Lambda function receives and returns"):
  one pair: {"annotation_1": {...}, "annotation_2": {...}, "per_label": false}
            -> {"score": 0.7}; an error fails the invocation with the reason.
  batch:    {"pairs": [{"annotation_1": ..., "annotation_2": ...}, ...], "per_label": false}
            -> {"scores": [0.7, null], "errors": [{"index": 1, "type": ..., "message": ..., "line": 7}]}
  gateway:  {"httpMethod": "POST", "body": "[annotation_1, annotation_2] as JSON text"}, the shape of
            Label Studio's early custom-matching-function draft (per_label is false)
            -> {"statusCode": "200", "body": "0.7", "headers": {"Content-Type": "application/json"}};
            an error answers statusCode "400" with the message as the body.

Each error it returns is also written to the function's log as one line of JSON,
{"agreement_error": {"index": 1, "type": "KeyError", "message": "'choices'", "line": 7}}
(no index for a single pair), which the operator finds with CloudWatch Logs Insights. At most
LOGGED_ERRORS lines per invocation; then one line {"agreement_error": {"suppressed": N}}.
"""

import importlib
import json
import math
import numbers
import sys
import traceback
from collections.abc import Mapping

METRIC_FILE = "metric.py"
LOG_KEY = "agreement_error"
LOGGED_ERRORS = 50
_MESSAGE_CHARS = 500


class MetricError(Exception):
    """The metric raised, or returned something that is not a valid score."""

    def __init__(self, type_name, message, line=None):
        self.type_name = type_name
        self.message = message
        self.line = line
        where = f" (metric.py, line {line})" if line else ""
        super().__init__(f"{type_name}: {message}{where}")

    def as_dict(self, index):
        return {"index": index, "type": self.type_name, "message": self.message, "line": self.line}


def handler(event, context):
    try:
        if not isinstance(event, Mapping):
            raise MetricError("InvalidEvent", f"the event must be a JSON object, got {type(event).__name__}")
        if "httpMethod" in event and "body" in event:
            return _gateway(event["body"])
        per_label = bool(event.get("per_label", False))
        if "pairs" in event:
            result = _score_batch(event["pairs"], per_label)
            if result["errors"]:
                log_errors(result["errors"])
            return result
        _require_pair(event)
        return {"score": score_pair(event["annotation_1"], event["annotation_2"], per_label)}
    except MetricError as error:  # one pair, or a batch that is not one: the invocation fails
        log_errors([{key: value for key, value in error.as_dict(None).items() if key != "index"}])
        raise


def _gateway(body):
    """The API Gateway shape: the body holds [annotation_1, annotation_2]; the answer is an HTTP one."""
    try:
        pair = json.loads(body) if isinstance(body, (str, bytes)) else body
        if not isinstance(pair, list) or len(pair) != 2:
            raise MetricError("InvalidEvent", "the body must be the JSON text of [annotation_1, annotation_2]")
        score = score_pair(pair[0], pair[1], False)
    except ValueError:
        error = MetricError("InvalidEvent", "the body is not JSON: send the JSON text of [annotation_1, annotation_2]")
        return _gateway_error(error)
    except MetricError as error:
        return _gateway_error(error)
    return {"statusCode": "200", "body": json.dumps(score), "headers": {"Content-Type": "application/json"}}


def _gateway_error(error):
    log_errors([{key: value for key, value in error.as_dict(None).items() if key != "index"}])
    return {"statusCode": "400", "body": str(error), "headers": {"Content-Type": "text/plain"}}


def log_errors(errors):
    """One JSON line per error (at most LOGGED_ERRORS, then how many more), written at once."""
    lines = [json.dumps({LOG_KEY: {**error, "message": str(error.get("message", ""))[:_MESSAGE_CHARS]}})
             for error in errors[:LOGGED_ERRORS]]
    if len(errors) > LOGGED_ERRORS:
        lines.append(json.dumps({LOG_KEY: {"suppressed": len(errors) - LOGGED_ERRORS}}))
    sys.stdout.write("\n".join(lines) + "\n")
    sys.stdout.flush()


def _score_batch(pairs, per_label):
    if not isinstance(pairs, list):
        raise MetricError("InvalidEvent", "`pairs` must be a list of {annotation_1, annotation_2} objects")
    try:
        agreement = _agreement()
    except MetricError as error:  # the module did not import: every pair fails with that error
        return {"scores": [None] * len(pairs), "errors": [error.as_dict(index) for index in range(len(pairs))]}
    scores: list = []
    errors: list = []
    # The loop runs once per pair, so its common path is kept to what must happen: no calls
    # besides the metric's, no ABC checks (a float in [0, 1] is checked inline).
    for index, pair in enumerate(pairs):
        try:
            first, second = pair["annotation_1"], pair["annotation_2"]
        except (KeyError, TypeError, IndexError):
            scores.append(None)
            errors.append(MetricError("InvalidEvent", _PAIR_SHAPE).as_dict(index))
            continue
        try:
            value = agreement(first, second, per_label=per_label)
        except Exception as error:  # noqa: BLE001 (the user's code may raise anything: report it, with its line)
            scores.append(None)
            errors.append(_raised(error).as_dict(index))
            continue
        if type(value) is float and 0.0 <= value <= 1.0:
            scores.append(value)
            continue
        try:
            scores.append(check_score(value, per_label))
        except MetricError as error:
            scores.append(None)
            errors.append(error.as_dict(index))
    return {"scores": scores, "errors": errors}


_PAIR_SHAPE = "a pair needs both `annotation_1` and `annotation_2`"


def _require_pair(pair):
    if not isinstance(pair, Mapping) or "annotation_1" not in pair or "annotation_2" not in pair:
        raise MetricError("InvalidEvent", _PAIR_SHAPE)


def score_pair(annotation_1, annotation_2, per_label):
    agreement = _agreement()
    try:
        value = agreement(annotation_1, annotation_2, per_label=per_label)
    except Exception as error:  # noqa: BLE001 (the user's code may raise anything: report it, with its line)
        raise _raised(error) from None
    return check_score(value, per_label)


# The metric's `agreement`, or why importing it failed: imported once per process (as Lambda
# keeps a warm runtime), and a failed import is not retried for every pair.
_loaded = None


def _agreement():
    global _loaded
    if _loaded is None:
        try:
            _loaded = importlib.import_module("metric").agreement
        except SyntaxError as error:
            _loaded = ("SyntaxError", error.msg, error.lineno)
        except Exception as error:  # noqa: BLE001 (an import-time failure of the user's module)
            raised = _raised(error)
            _loaded = (raised.type_name, raised.message, raised.line)
    if isinstance(_loaded, tuple):
        raise MetricError(*_loaded)
    return _loaded


def _raised(error):
    """What the metric raised, as a MetricError naming its line in metric.py."""
    return MetricError(type(error).__name__, str(error), _metric_line(error))


def _metric_line(error):
    lines = [frame.lineno for frame in traceback.extract_tb(error.__traceback__)
             if frame.filename.endswith(METRIC_FILE)]
    return lines[-1] if lines else None


def check_score(value, per_label):
    """The score as JSON-ready data, or MetricError saying what was returned and what was expected."""
    if per_label:
        if not isinstance(value, Mapping):
            raise MetricError("InvalidReturnValue", _returned(value)
                              + "; with per_label=True, return a dict of label -> number in [0, 1]")
        checked = {}
        for label, score in value.items():
            if not isinstance(label, str):
                raise MetricError("InvalidReturnValue",
                                  f"label {label!r} is {type(label).__name__}; per-label keys must be strings")
            checked[label] = _check_number(score, f" for label {label!r}")
        return checked
    return _check_number(value, "")


def _check_number(value, context):
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise MetricError("InvalidReturnValue", _returned(value) + context
                          + "; expected a number in [0, 1]")
    number = float(value)
    if math.isnan(number) or not 0.0 <= number <= 1.0:
        raise MetricError("InvalidReturnValue", f"returned {number!r}{context}; expected a number in [0, 1]")
    return number


def _returned(value):
    if value is None:
        return "returned None (does every path of `agreement` end in a return statement?)"
    text = repr(value)
    return f"returned {type(value).__name__} {text[:80]}{'...' if len(text) > 80 else ''}"
