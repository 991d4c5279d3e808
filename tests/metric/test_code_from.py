"""spec.codeFrom resolved through a ConfigMap reader; reconcile with it against moto."""

import pytest

from agreement_operator import failures
from agreement_operator.lambda_target import reconcile
from agreement_operator.lambda_target.reconcile import Phase, Request
from agreement_operator.metric import code_from

REF = {"codeFrom": {"configMapKeyRef": {"name": "metric-code", "key": "metric.py"}}}


def reader(configmaps):
    return lambda namespace, name: configmaps.get((namespace, name))


def test_inline_code_is_left_as_it_is():
    assert code_from.resolve({"code": "x"}, "ns", reader({})) == {"code": "x"}
    assert code_from.reference({"code": "x"}) is None


def test_code_is_read_from_the_configmap_key(good_metric):
    spec = {**REF, "prefix": "p"}
    resolved = code_from.resolve(spec, "labeling", reader({("labeling", "metric-code"): {
        "metric.py": good_metric}}))
    assert resolved == {"prefix": "p", "code": good_metric}
    assert code_from.reference(spec) == ("metric-code", "metric.py")


def test_missing_configmap_says_what_to_create():
    with pytest.raises(failures.PermanentFailure) as raised:
        code_from.resolve(REF, "labeling", reader({}))
    assert raised.value.reason == "ConfigMapNotFound"
    assert "ConfigMap labeling/metric-code" in raised.value.message and "create it" in raised.value.message


def test_missing_key_lists_the_keys_there_are():
    with pytest.raises(failures.PermanentFailure) as raised:
        code_from.resolve(REF, "labeling", reader({("labeling", "metric-code"): {"other.py": "", "a": ""}}))
    assert raised.value.reason == "ConfigMapKeyNotFound"
    assert "no key 'metric.py' (its keys: a, other.py)" in raised.value.message


def test_reconcile_deploys_code_from_a_configmap(owner, functions, config, good_metric, recorder):
    configmaps = {("labeling", "metric-code"): {"metric.py": good_metric}}
    outcome = reconcile.reconcile(Request(spec=REF, owner=owner, read_configmap=reader(configmaps)),
                                  functions, config)
    assert outcome.phase is Phase.READY, outcome.message
    configmaps[("labeling", "metric-code")] = {"metric.py": good_metric + "\n# changed\n"}
    recorder.clear()
    reconcile.reconcile(Request(spec=REF, owner=owner, read_configmap=reader(configmaps)), functions, config)
    assert recorder.mutating == ["UpdateFunctionCode"]


def test_reconcile_stalls_on_a_missing_configmap_without_aws_calls(owner, functions, config, recorder):
    outcome = reconcile.reconcile(Request(spec=REF, owner=owner, read_configmap=reader({})), functions, config)
    assert (outcome.phase, outcome.reason) == (Phase.STALLED, "ConfigMapNotFound")
    assert recorder.calls == []


def test_invalid_code_in_a_configmap_has_its_line(owner, functions, config):
    configmaps = {("labeling", "metric-code"): {"metric.py": "def agreement(a, b, per_label=False):\n  return (\n"}}
    outcome = reconcile.reconcile(Request(spec=REF, owner=owner, read_configmap=reader(configmaps)),
                                  functions, config)
    assert (outcome.phase, outcome.reason) == (Phase.STALLED, "InvalidCode")
    assert "line 2" in outcome.message
