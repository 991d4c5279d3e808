"""Reconcile and delete against moto's Lambda (in process)."""

import dataclasses

import boto3
import pytest

from agreement_operator.function import packaging
from agreement_operator.lambda_target import lambda_api, reconcile
from agreement_operator.metric import tags
from agreement_operator.metric.owner import Owner
from agreement_operator.target import Phase, Request


@pytest.fixture
def spec(good_metric):
    return {"code": good_metric, "prefix": "nlp", "tags": {"team": "annotation-quality"}}


def request_of(spec, owner, **fields):
    return Request(spec=spec, owner=owner, read_configmap=lambda namespace, name: None, **fields)


def run(spec, owner, functions, config, **request):
    return reconcile.reconcile(request_of(spec, owner, **request), functions, config)


def name_of(outcome) -> str:
    return outcome.status["functionName"]


def deployed(client, name):
    response = client.get_function(FunctionName=name)
    return response["Configuration"], response["Tags"]


def test_create_deploys_a_named_tagged_function(spec, owner, functions, config, client, recorder):
    outcome = run(spec, owner, functions, config)
    assert outcome.phase is Phase.READY, outcome.message
    name = "custom-metric-nlp-labeling-sentiment"
    configuration, function_tags = deployed(client, name)
    assert configuration["Handler"] == "agreement_handler.handler"
    assert configuration["Runtime"] == "python3.12"
    assert configuration["Role"] == config.execution_role_arn
    assert (configuration["Timeout"], configuration["MemorySize"]) == (30, 256)
    assert configuration["CodeSha256"] == packaging.code_sha256(packaging.build_zip(spec["code"]))
    assert function_tags == {"team": "annotation-quality", **tags.ownership_tags(owner)}
    assert name_of(outcome) == name and outcome.status["functionArn"] == configuration["FunctionArn"]
    assert recorder.mutating == ["CreateFunction"]
    assert [event.reason for event in outcome.events] == ["Created"]


def test_reconciling_again_makes_no_mutating_call(spec, owner, functions, config, recorder):
    run(spec, owner, functions, config)
    recorder.clear()
    outcome = run(spec, owner, functions, config, status={"functionName": "custom-metric-nlp-labeling-sentiment"})
    assert outcome.phase is Phase.READY
    assert recorder.mutating == []
    assert recorder.calls == ["GetFunction"]
    assert outcome.events == []


def test_code_change_updates_only_the_code(spec, owner, functions, config, client, recorder):
    run(spec, owner, functions, config)
    recorder.clear()
    new_code = spec["code"].replace("1.0", "0.0")
    outcome = run({**spec, "code": new_code}, owner, functions, config)
    assert recorder.mutating == ["UpdateFunctionCode"]
    expected = packaging.code_sha256(packaging.build_zip(new_code))
    assert outcome.status["codeSha256"] == expected
    assert deployed(client, name_of(outcome))[0]["CodeSha256"] == expected
    assert [event.reason for event in outcome.events] == ["CodeUpdated"]


def test_an_update_lambda_throttled_posts_no_event_that_says_it_was_deployed(spec, owner, functions, config, client,
                                                                              throttle):
    """Regression: the CodeUpdated (and ConfigurationUpdated) Event was added before the call, so every pass whose
    update was throttled or waited its turn at the quota posted a Normal Event claiming a deploy (1,424 of them
    for 1,000 changes through a throttling episode)."""
    run(spec, owner, functions, config)
    throttle(client, count=1, path_suffix="/code")  # UpdateFunctionCode (PUT .../code) answered 429
    refused = run({**spec, "code": spec["code"].replace("1.0", "0.0")}, owner, functions, config)
    assert refused.phase is Phase.RECONCILING and refused.reason == "TooManyRequestsException"
    assert [event.reason for event in refused.events] == ["TooManyRequestsException"]


def test_code_and_configuration_change_are_separate_passes(spec, owner, functions, config, client, recorder):
    run(spec, owner, functions, config)
    recorder.clear()
    changed = {**spec, "code": spec["code"] + "\n# v2\n", "memoryMB": 512}
    first = run(changed, owner, functions, config)
    assert recorder.calls == ["GetFunction", "UpdateFunctionCode"]
    assert (first.phase, first.reason, first.retry_delay) == (Phase.RECONCILING, "FunctionUpdating", 0.0)
    assert "updated the code of custom-metric-nlp-labeling-sentiment; its configuration next" in first.message
    recorder.clear()
    second = run(changed, owner, functions, config, attempt=1)
    assert recorder.calls == ["GetFunction", "UpdateFunctionConfiguration"]
    assert second.phase is Phase.READY
    assert deployed(client, name_of(second))[0]["MemorySize"] == 512


def test_configuration_update_sends_only_what_differs(spec, owner, functions, config, client, recorder):
    run(spec, owner, functions, config)
    recorder.clear()
    sent = []
    client.meta.events.register("provide-client-params.lambda.UpdateFunctionConfiguration",
                                lambda params, **_: sent.append(dict(params)))
    run({**spec, "timeoutSeconds": 60, "description": "IoU for boxes"}, owner, functions, config)
    assert recorder.mutating == ["UpdateFunctionConfiguration"]
    assert sent == [{"FunctionName": "custom-metric-nlp-labeling-sentiment", "Timeout": 60,
                     "Description": "IoU for boxes"}]


def test_tags_are_made_to_match_exactly(spec, owner, functions, config, client, recorder):
    run({**spec, "tags": {"team": "a", "old": "x"}}, owner, functions, config)
    recorder.clear()
    outcome = run({**spec, "tags": {"team": "b", "new": "y"}}, owner, functions, config)
    assert sorted(recorder.mutating) == ["TagResource", "UntagResource"]
    assert deployed(client, name_of(outcome))[1] == {"team": "b", "new": "y", **tags.ownership_tags(owner)}
    assert "removed old" in outcome.events[0].message


def test_removing_all_user_tags_keeps_ownership_tags(spec, owner, functions, config, client):
    run(spec, owner, functions, config)
    outcome = run({**spec, "tags": {}}, owner, functions, config)
    assert deployed(client, name_of(outcome))[1] == tags.ownership_tags(owner)


def test_function_deleted_out_of_band_is_recreated(spec, owner, functions, config, client, recorder):
    run(spec, owner, functions, config)
    client.delete_function(FunctionName="custom-metric-nlp-labeling-sentiment")
    recorder.clear()
    outcome = run(spec, owner, functions, config, status={"functionName": "custom-metric-nlp-labeling-sentiment"})
    assert outcome.phase is Phase.READY
    assert recorder.mutating == ["CreateFunction"]


class ReadBeforeTheOtherReplicasCreate:
    """The first read of a pass answers "no function", as it did before another writer's create landed."""

    def __init__(self, functions) -> None:
        self.functions, self.first = functions, True

    def __getattr__(self, name):
        return getattr(self.functions, name)

    def read(self, name):
        if self.first:
            self.first = False
            return None
        return self.functions.read(name)


def test_a_function_created_since_the_read_by_the_replica_handing_over_is_taken_as_deployed(
        spec, owner, functions, config, recorder):
    run(spec, owner, functions, config)  # the replica that was active, stopped before it wrote status
    recorder.clear()
    outcome = run(spec, owner, ReadBeforeTheOtherReplicasCreate(functions), config)
    assert outcome.phase is Phase.READY, outcome.message
    assert recorder.calls == ["CreateFunction", "GetFunction"]  # refused "already exist", then read
    assert outcome.events == []  # nothing to warn about: it is this metric's function


def test_a_function_of_someone_else_created_since_the_read_is_not_touched(spec, owner, functions, config, recorder):
    other = dataclasses.replace(owner, uid="uid-9", cluster="other-cluster")
    run(spec, other, functions, config)
    recorder.clear()
    outcome = run(spec, owner, ReadBeforeTheOtherReplicasCreate(functions), config)
    assert outcome.phase is Phase.STALLED and outcome.reason == "FunctionOwnedElsewhere", outcome.message
    assert recorder.mutating == ["CreateFunction"]  # the refused create; nothing after it


def test_recreated_resource_with_a_new_uid_takes_its_function_back(spec, owner, functions, config, client):
    run(spec, owner, functions, config)
    outcome = run(spec, dataclasses.replace(owner, uid="uid-2"), functions, config)
    assert outcome.phase is Phase.READY
    assert deployed(client, name_of(outcome))[1]["agreement.dev/uid"] == "uid-2"


def test_function_owned_by_another_namespace_is_not_touched(spec, owner, functions, config, client, recorder):
    other = Owner(owner.cluster, "other-team", owner.name, "uid-9")
    # Both resources ask for the same name: the prefix absorbs the namespace difference.
    run({**spec, "prefix": "shared"}, other, functions, config)
    name = "custom-metric-shared-other-team-sentiment"
    client.create_function(
        FunctionName="custom-metric-shared-labeling-sentiment", Runtime="python3.12",
        Role=config.execution_role_arn, Handler="x.handler", Code={"ZipFile": packaging.build_zip("x = 1")},
        Tags=tags.ownership_tags(other),
    )
    before = deployed(client, "custom-metric-shared-labeling-sentiment")
    recorder.clear()
    outcome = run({**spec, "prefix": "shared"}, owner, functions, config)
    assert outcome.phase is Phase.STALLED
    assert outcome.reason == "FunctionOwnedElsewhere"
    assert "other-team/sentiment in cluster 'test-cluster'" in outcome.message
    assert recorder.mutating == []
    assert deployed(client, "custom-metric-shared-labeling-sentiment") == before
    assert deployed(client, name)[1]["agreement.dev/namespace"] == "other-team"


def test_function_owned_by_another_cluster_is_not_touched(spec, owner, functions, config, recorder):
    run(spec, dataclasses.replace(owner, cluster="prod-eu"), functions, config)
    recorder.clear()
    outcome = run(spec, owner, functions, config)
    assert (outcome.phase, outcome.reason) == (Phase.STALLED, "FunctionOwnedElsewhere")
    assert recorder.mutating == []


@pytest.fixture
def untagged_function(config, client):
    name = "custom-metric-nlp-labeling-sentiment"
    client.create_function(
        FunctionName=name, Runtime="python3.9", Role=config.execution_role_arn, Handler="old.handler",
        Code={"ZipFile": packaging.build_zip("x = 1")}, Tags={"created-by": "label-studio-ui"},
    )
    return name


def test_untagged_function_is_left_alone_without_the_adopt_annotation(
        spec, owner, functions, config, client, recorder, untagged_function):
    recorder.clear()
    outcome = run(spec, owner, functions, config)
    assert (outcome.phase, outcome.reason) == (Phase.STALLED, "FunctionNotManaged")
    assert 'agreement.dev/adopt: "true"' in outcome.message
    assert recorder.mutating == []


def test_untagged_function_is_adopted_with_the_annotation(
        spec, owner, functions, config, client, untagged_function, settle):
    outcome = settle(request_of(spec, owner, adopt=True), functions, config)
    assert outcome.phase is Phase.READY, outcome.message
    configuration, function_tags = deployed(client, untagged_function)
    assert configuration["Runtime"] == "python3.12" and configuration["Handler"] == "agreement_handler.handler"
    assert function_tags == {"team": "annotation-quality", **tags.ownership_tags(owner)}
    assert outcome.events[0].reason == "Adopted"


def test_adopt_does_not_take_a_function_owned_elsewhere(spec, owner, functions, config, recorder):
    run(spec, dataclasses.replace(owner, cluster="prod-eu"), functions, config)
    recorder.clear()
    outcome = run(spec, owner, functions, config, adopt=True)
    assert (outcome.phase, outcome.reason) == (Phase.STALLED, "FunctionOwnedElsewhere")
    assert recorder.mutating == []


@pytest.mark.parametrize(("change", "reason", "words"), [
    ({"code": "def agreement(a, b, per_label=False):\n    return (\n"}, "InvalidCode", "line 2"),
    ({"code": "def score(a, b):\n    return 1\n"}, "InvalidCode", "no function named `agreement`"),
    ({"tags": {"aws:owner": "me"}}, "InvalidSpec", "reserved by AWS"),
    ({"prefix": "a b"}, "InvalidName", "cannot form a Lambda function name"),
])
def test_invalid_spec_is_stalled_without_any_aws_call(spec, owner, functions, config, recorder, change, reason, words):
    outcome = run({**spec, **change}, owner, functions, config)
    assert (outcome.phase, outcome.reason) == (Phase.STALLED, reason)
    assert words in outcome.message
    assert recorder.calls == []
    assert outcome.events[0].warning


def test_prefix_change_moves_the_function_and_deletes_the_old_one(spec, owner, functions, config, client):
    first = run(spec, owner, functions, config)
    outcome = run({**spec, "prefix": "vision"}, owner, functions, config, status={"functionName": name_of(first)})
    assert name_of(outcome) == "custom-metric-vision-labeling-sentiment"
    names = [f["FunctionName"] for f in client.list_functions()["Functions"]]
    assert names == ["custom-metric-vision-labeling-sentiment"]


def test_prefix_change_under_retain_keeps_the_old_function(spec, owner, functions, config, client):
    first = run({**spec, "deletionPolicy": "Retain"}, owner, functions, config)
    run({**spec, "prefix": "vision", "deletionPolicy": "Retain"}, owner, functions, config,
        status={"functionName": name_of(first)})
    assert len(client.list_functions()["Functions"]) == 2


def test_delete_removes_the_function(spec, owner, functions, config, client, recorder):
    first = run(spec, owner, functions, config)
    events = reconcile.delete(request_of(spec, owner, status={"functionName": name_of(first)}), functions)
    assert [event.reason for event in events] == ["Deleted"]
    assert client.list_functions()["Functions"] == []


def test_delete_when_the_function_is_already_gone(spec, owner, functions, recorder):
    gone = {"functionName": "custom-metric-nlp-labeling-sentiment"}
    events = reconcile.delete(request_of(spec, owner, status=gone), functions)
    assert events == []
    assert recorder.mutating == []


def test_delete_under_retain_keeps_the_function(spec, owner, functions, config, client, recorder):
    first = run({**spec, "deletionPolicy": "Retain"}, owner, functions, config)
    recorder.clear()
    events = reconcile.delete(request_of({**spec, "deletionPolicy": "Retain"}, owner,
                                         status={"functionName": name_of(first)}), functions)
    assert [event.reason for event in events] == ["Retained"]
    assert recorder.calls == []
    assert len(client.list_functions()["Functions"]) == 1


def test_delete_never_removes_a_function_owned_elsewhere(spec, owner, functions, config, client):
    run(spec, dataclasses.replace(owner, cluster="prod-eu"), functions, config)
    events = reconcile.delete(request_of(spec, owner), functions)
    assert [event.reason for event in events] == ["NotDeleted"]
    assert len(client.list_functions()["Functions"]) == 1


def test_delete_of_a_resource_that_never_deployed(owner, functions, recorder):
    events = reconcile.delete(request_of({"code": "", "prefix": "bad prefix"}, owner), functions)
    assert events == [] and recorder.calls == []


def test_invalid_code_leaves_no_function_behind(spec, owner, functions, config):
    run({**spec, "code": "def agreement(:"}, owner, functions, config)
    assert boto3.client("lambda", region_name=config.region).list_functions()["Functions"] == []


class OperatorDied(Exception):
    """Stands for the operator process being killed at this point."""


class DiesAfterCreate(lambda_api.LambdaFunctions):
    def create(self, *args, **kwargs) -> None:
        super().create(*args, **kwargs)
        raise OperatorDied


def test_a_prefix_moved_twice_leaks_no_function_when_the_operator_dies_after_a_create(
        spec, owner, functions, config, client):
    first = run({**spec, "prefix": "p1"}, owner, functions, config)
    status = {"functionName": name_of(first), "functionNames": first.status["functionNames"]}

    def persist(patch):  # what the handler writes to status before creating
        status.update(patch)

    with pytest.raises(OperatorDied):
        run({**spec, "prefix": "p2"}, owner, DiesAfterCreate(functions.client), config, status=dict(status),
            write_status=persist)
    assert status["functionNames"] == ["custom-metric-p1-labeling-sentiment",
                                       "custom-metric-p2-labeling-sentiment"]

    third = run({**spec, "prefix": "p3"}, owner, functions, config, status=dict(status), write_status=persist)
    assert third.phase is Phase.READY, third.message
    assert third.status["functionNames"] == ["custom-metric-p3-labeling-sentiment"]
    names = {f["FunctionName"] for f in client.list_functions()["Functions"]}
    assert names == {"custom-metric-p3-labeling-sentiment"}


def test_delete_removes_every_recorded_name(spec, owner, functions, config, client):
    for prefix in ("p1", "p2"):
        run({**spec, "prefix": prefix}, owner, functions, config)  # two functions, as after a crash mid-move
    names = ["custom-metric-p1-labeling-sentiment", "custom-metric-p2-labeling-sentiment"]
    reconcile.delete(request_of({**spec, "prefix": "p3"}, owner, status={"functionNames": names}), functions)
    assert client.list_functions()["Functions"] == []


def test_a_new_name_is_recorded_before_the_function_is_created(spec, owner, functions, config, recorder):
    seen = []
    run(spec, owner, functions, config, write_status=lambda patch: seen.append((patch, list(recorder.calls))))
    assert seen == [({"functionNames": ["custom-metric-nlp-labeling-sentiment"]}, [])]


def test_a_namespace_not_allowed_to_adopt_is_stalled_saying_who_can_allow_it(
        spec, owner, functions, config, recorder, untagged_function):
    recorder.clear()
    outcome = run(spec, owner, functions, dataclasses.replace(config, adopt_namespaces=("qa",)), adopt=True)
    assert (outcome.phase, outcome.reason) == (Phase.STALLED, "AdoptionNotAllowed")
    assert "AGREEMENT_OPERATOR_ADOPT_NAMESPACES" in outcome.message
    assert recorder.mutating == []


def test_imports_lambda_lacks_are_in_the_ready_message_and_an_event(owner, functions, config, good_metric):
    outcome = run({"code": "import numpy\n" + good_metric}, owner, functions, config)
    assert outcome.phase is Phase.READY
    assert "warning: line 1: imports numpy" in outcome.message
    assert [e.reason for e in outcome.events if e.warning] == ["CodeWarning"]
