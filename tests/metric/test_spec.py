import pytest

from agreement_operator.metric import spec as metric_spec

CODE = "def agreement(a, b, per_label=False):\n    return 1.0\n"


def test_defaults_fill_what_the_spec_leaves_out():
    spec, problems = metric_spec.parse({"code": CODE})
    assert problems == []
    assert (spec.runtime, spec.timeout_seconds, spec.memory_mb, spec.deletion_policy) == (
        "python3.12", 30, 256, "Delete")
    assert spec.tags == {} and spec.prefix == ""


@pytest.mark.parametrize(("spec", "reason", "words"), [
    ({"code": "def agreement(:\n"}, "InvalidCode", "line 1: syntax error"),
    ({"code": CODE, "codeFrom": {"configMapKeyRef": {"name": "m", "key": "k"}}}, "InvalidSpec", "exactly one"),
    ({"code": CODE, "tags": {"aws:x": "y"}}, "InvalidSpec", "reserved by AWS"),
    ({"code": CODE, "prefix": "bad prefix"}, "InvalidName", "cannot form a Lambda function name"),
    ({"code": CODE, "memoryMB": 64}, "InvalidSpec", "from 128 to 10240"),
    ({"code": CODE, "timeoutSeconds": 901}, "InvalidSpec", "from 1 to 900"),
    ({"code": CODE, "timeoutSeconds": True}, "InvalidSpec", "whole number"),
    ({"code": CODE, "deletionPolicy": "Orphan"}, "InvalidSpec", "'Delete' or 'Retain'"),
    ({"code": CODE, "runtime": "nodejs20.x"}, "InvalidSpec", "not a Python 3 Lambda runtime"),
    ({"code": CODE, "description": "d" * 257}, "InvalidSpec", "at most 256"),
    ({}, "InvalidCode", "empty"),
])
def test_problems_carry_a_reason_and_say_what_to_change(spec, reason, words):
    parsed, problems = metric_spec.parse(spec)
    assert parsed is None
    assert problems[0].reason == reason
    assert any(words in str(problem) for problem in problems), [str(p) for p in problems]


def test_every_problem_is_reported_not_only_the_first():
    _, problems = metric_spec.parse({"code": "", "tags": {"aws:x": "1"}, "prefix": "-x"})
    assert len(problems) == 3


def test_a_byte_order_mark_is_stripped_from_what_ships():
    code = "def agreement(a, b, per_label=False):\n    return 1.0\n"
    spec, problems = metric_spec.parse({"code": "\ufeff" + code})
    assert problems == []
    assert spec.code == code


def test_imports_lambda_lacks_are_warnings_not_problems():
    spec, problems = metric_spec.parse({"code": "import numpy\n" + CODE})
    assert problems == []
    assert spec.warnings == ("line 1: imports numpy, which Lambda's Python runtime does not include; "
                             "add it with a Lambda layer or remove the import",)


@pytest.mark.parametrize(("spec", "words"), [
    ({"code": CODE, "labelStudio": {"project": 7}, "prefix": "nlp"}, "spec.prefix is a Lambda setting"),
    ({"code": CODE, "labelStudio": {"project": 7}, "memoryMB": 512}, "remove spec.memoryMB"),
    ({"code": CODE, "labelStudio": {"project": 0}}, "spec.labelStudio.project is 0"),
    ({"code": CODE, "labelStudio": {"project": "7"}}, "the number in its address"),
    ({"code": CODE, "labelStudio": {"project": 7, "metricName": " "}}, "metricName must be a non-empty string"),
    ({"code": CODE, "labelStudio": 7}, "spec.labelStudio must be an object"),
])
def test_label_studio_targets_refuse_lambda_settings_and_bad_projects(spec, words):
    parsed, problems = metric_spec.parse(spec)
    assert parsed is None
    assert any(words in str(problem) for problem in problems), [str(p) for p in problems]


def test_a_label_studio_target_with_code_and_tests_is_valid():
    parsed, problems = metric_spec.parse({"code": CODE, "labelStudio": {"project": 7, "metricName": "custom"},
                                          "deletionPolicy": "Retain", "tests": []})
    assert problems == [] and parsed is not None


@pytest.mark.parametrize(("aws", "problem"), [
    ({"connection": "Prod"}, "spec.aws.connection is 'Prod'; use the name of one of the operator's AWS connections"),
    ("production", "spec.aws must be an object: {connection: NAME}"),
])
def test_a_malformed_aws_connection_says_what_to_use(aws, problem):
    problems = [str(found) for found in metric_spec.shape_problems({"code": "", "aws": aws})]
    assert any(found.startswith(problem) for found in problems), problems


def test_spec_aws_with_label_studio_is_refused_saying_what_to_remove():
    spec = {"code": "", "labelStudio": {"project": 1}, "aws": {"connection": "production"}}
    assert any("remove spec.aws" in str(found) for found in metric_spec.shape_problems(spec))


def test_a_metric_without_spec_aws_uses_the_default_connection():
    assert metric_spec.aws_connection({"code": ""}) == "default"
    assert metric_spec.aws_connection({"aws": {"connection": "production"}}) == "production"
