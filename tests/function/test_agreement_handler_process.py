"""The packaged zip's handler run in a separate Python process, with Label Studio annotations."""

import json
from pathlib import Path

import pytest

from agreement_operator.function import local_invoke, packaging

pytestmark = pytest.mark.slow

# Label Studio's documentation, "How to write your custom agreement metric": first example.
PUBLISHED_CHOICES = (Path(__file__).parents[1] / "data" / "published_choices_metric.py").read_text()

# The same page's per_label example.
PUBLISHED_PER_LABEL = '''
def agreement(annotation_1, annotation_2, per_label=False) -> float:

    label_1 = annotation_1["result"][0]["value"]["choices"][0]
    label_2 = annotation_2["result"][0]["value"]["choices"][0]
    weight = {"Positive": 0.99, "Negative": 0.01}

    if label_1 == label_2:
        if per_label:
            return {label_1: weight[label_1]}
        else:
            return weight[label_1]
    else:
        if per_label:
            return {label_1: 0, label_2: 0}
        else:
            return 0
'''

SPAN_OVERLAP = '''
def agreement(annotation_1, annotation_2, per_label=False):
    def spans(annotation):
        return {(r["value"]["start"], r["value"]["end"], r["value"]["labels"][0])
                for r in annotation["result"] if r["type"] == "labels"}
    a, b = spans(annotation_1), spans(annotation_2)
    if per_label:
        labels = {s[2] for s in a | b}
        return {l: len({s for s in a & b if s[2] == l}) / len({s for s in a | b if s[2] == l}) for l in labels}
    return len(a & b) / len(a | b) if a | b else 1.0
'''

BOX_IOU = '''
def iou(p, q):
    x1, y1 = max(p["x"], q["x"]), max(p["y"], q["y"])
    x2 = min(p["x"] + p["width"], q["x"] + q["width"])
    y2 = min(p["y"] + p["height"], q["y"] + q["height"])
    inter = max(0, x2 - x1) * max(0, y2 - y1)
    union = p["width"] * p["height"] + q["width"] * q["height"] - inter
    return inter / union if union else 0.0

def agreement(annotation_1, annotation_2, per_label=False):
    def boxes(annotation):
        return [r["value"] for r in annotation["result"] if r["type"] == "rectanglelabels"]
    a, b = boxes(annotation_1), boxes(annotation_2)
    if not a and not b:
        return 1.0
    scores = [max((iou(p, q) for q in b if q["rectanglelabels"] == p["rectanglelabels"]), default=0.0)
              for p in a]
    return sum(scores) / max(len(a), len(b))
'''


def invoke(code, event):
    return local_invoke.invoke(packaging.build_zip(code), event, timeout_seconds=30)


def pair(annotations, first, second, per_label=False):
    return {"annotation_1": annotations[first], "annotation_2": annotations[second], "per_label": per_label}


@pytest.mark.parametrize(("first", "second", "score"), [
    ("positive_a", "positive_b", 0.99),
    ("negative_a", "negative_b", 0.7),
    ("positive_a", "negative_b", 0.0),
])
def test_published_choices_example(annotations, first, second, score):
    result = invoke(PUBLISHED_CHOICES, pair(annotations, first, second))
    assert result.function_error is None
    assert result.payload == {"score": score}


def test_published_choices_example_falls_off_its_end_for_neutral(annotations):
    result = invoke(PUBLISHED_CHOICES, pair(annotations, "neutral_a", "neutral_b"))
    assert result.function_error == "Unhandled"
    assert result.payload["errorType"] == "MetricError"
    assert "returned None" in result.payload["errorMessage"]
    assert "expected a number in [0, 1]" in result.payload["errorMessage"]


@pytest.mark.parametrize(("first", "second", "per_label", "score"), [
    ("positive_a", "positive_b", False, 0.99),
    ("negative_a", "negative_b", True, {"Negative": 0.01}),
    ("positive_a", "negative_b", True, {"Positive": 0.0, "Negative": 0.0}),
])
def test_published_per_label_example(annotations, first, second, per_label, score):
    result = invoke(PUBLISHED_PER_LABEL, pair(annotations, first, second, per_label))
    assert result.payload == {"score": score}


def test_published_per_label_example_raises_keyerror_for_neutral_with_its_line(annotations):
    result = invoke(PUBLISHED_PER_LABEL, pair(annotations, "neutral_a", "neutral_b"))
    assert result.function_error == "Unhandled"
    assert "KeyError: 'Neutral' (metric.py, line 12)" in result.payload["errorMessage"]


def test_text_spans(annotations):
    assert invoke(SPAN_OVERLAP, pair(annotations, "spans_a", "spans_b")).payload == {"score": 0.5}
    per_label = invoke(SPAN_OVERLAP, pair(annotations, "spans_a", "spans_b", per_label=True)).payload
    assert per_label == {"score": {"ORG": 0.5, "PER": 1.0, "LOC": 0.0}}


def test_rectangle_boxes_and_a_prediction(annotations):
    score = invoke(BOX_IOU, pair(annotations, "boxes_a", "boxes_b")).payload["score"]
    assert score == pytest.approx((1.0 + 50 / 150) / 2)
    against_prediction = invoke(BOX_IOU, pair(annotations, "boxes_a", "prediction_boxes")).payload["score"]
    assert against_prediction == pytest.approx(0.5)
    assert invoke(BOX_IOU, pair(annotations, "empty", "empty")).payload == {"score": 1.0}


def test_batch_scores_every_pair_and_one_bad_pair_never_fails_the_batch(annotations):
    event = {"pairs": [
        pair(annotations, "positive_a", "positive_b"),
        pair(annotations, "neutral_a", "neutral_b"),
        pair(annotations, "empty", "positive_b"),
        {"annotation_1": annotations["negative_a"]},
        pair(annotations, "negative_a", "negative_b"),
    ]}
    result = invoke(PUBLISHED_CHOICES, event)
    assert result.function_error is None
    assert result.payload["scores"] == [0.99, None, None, None, 0.7]
    errors = {error["index"]: error for error in result.payload["errors"]}
    assert sorted(errors) == [1, 2, 3]
    assert errors[1]["type"] == "InvalidReturnValue" and "returned None" in errors[1]["message"]
    assert errors[2] == {"index": 2, "type": "IndexError", "message": "list index out of range", "line": 6}
    assert errors[3]["type"] == "InvalidEvent"


def test_import_time_errors_are_reported_with_their_line(annotations):
    code = "import json\nvalue = json.loads('{')\ndef agreement(a, b, per_label=False):\n    return 1\n"
    result = invoke(code, pair(annotations, "positive_a", "positive_b"))
    assert result.function_error == "Unhandled"
    assert "JSONDecodeError" in result.payload["errorMessage"]
    assert "(metric.py, line 2)" in result.payload["errorMessage"]


def test_user_code_runs_without_the_operators_environment(annotations, monkeypatch):
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "must-not-leak")
    code = "import os\ndef agreement(a, b, per_label=False):\n    return float('AWS_SECRET_ACCESS_KEY' in os.environ)\n"
    assert invoke(code, pair(annotations, "positive_a", "positive_b")).payload == {"score": 0.0}


def test_a_metric_that_never_returns_is_stopped():
    code = "def agreement(a, b, per_label=False):\n    while True:\n        pass\n"
    answer = local_invoke.invoke(packaging.build_zip(code), {"annotation_1": {}, "annotation_2": {}}, timeout_seconds=2)
    assert answer.error == "FunctionError (Unhandled): Sandbox.Timedout: the metric did not answer within 2 s"


def test_a_metric_failing_at_import_fails_every_pair_with_that_error_imported_once(annotations):
    code = ("import builtins\nbuiltins.imports = getattr(builtins, 'imports', 0) + 1\n"
            "raise RuntimeError(f'import number {builtins.imports}')\n")
    pairs = [{"annotation_1": annotations["positive_a"], "annotation_2": annotations["positive_b"]}] * 3
    payload = invoke(code, {"pairs": pairs}).payload
    assert payload["scores"] == [None, None, None]
    assert [(e["index"], e["type"], e["message"], e["line"]) for e in payload["errors"]] == [
        (index, "RuntimeError", "import number 1", 3) for index in range(3)]


def test_malformed_pairs_fail_alone_in_a_batch(annotations):
    good = {"annotation_1": annotations["positive_a"], "annotation_2": annotations["positive_b"]}
    payload = invoke(GOOD_METRIC_FOR_BATCH, {"pairs": [good, {"annotation_1": {}}, "not a pair", good]}).payload
    assert payload["scores"][0] == payload["scores"][3] == 1.0
    assert [(e["index"], e["type"]) for e in payload["errors"]] == [(1, "InvalidEvent"), (2, "InvalidEvent")]


GOOD_METRIC_FOR_BATCH = "def agreement(a, b, per_label=False):\n    return 1.0\n"


def gateway(annotation_1, annotation_2) -> dict:
    """The event of Label Studio's early custom-matching-function draft: API Gateway's shape."""
    return {"httpMethod": "POST", "body": json.dumps([annotation_1, annotation_2])}


def test_the_api_gateway_shape_answers_in_its_envelope(annotations):
    result = invoke(PUBLISHED_CHOICES, gateway(annotations["positive_a"], annotations["positive_b"]))
    assert result.function_error is None
    assert result.payload == {"statusCode": "200", "body": "0.99", "headers": {"Content-Type": "application/json"}}


@pytest.mark.parametrize(("event", "words"), [
    ("neutral", "IndexError: list index out of range (metric.py, line 6)"),  # the metric raised
    ({"httpMethod": "POST", "body": "not json"}, "the body is not JSON"),
    ({"httpMethod": "POST", "body": "[1, 2, 3]"}, "the JSON text of [annotation_1, annotation_2]"),
])
def test_the_api_gateway_shape_answers_400_with_the_message(annotations, event, words):
    if event == "neutral":
        event = gateway(annotations["empty"], annotations["positive_b"])
    result = invoke(PUBLISHED_CHOICES, event)
    assert result.function_error is None  # an HTTP answer, not a failed invocation
    assert result.payload["statusCode"] == "400" and words in result.payload["body"]
    assert '"agreement_error"' in result.log  # logged like every error, for status.functionErrors
