"""The kopf handlers as plain functions: what they write, post and raise, against moto's Lambda."""

import logging

import kopf
import pytest

from agreement_operator import label_studio_target, lambda_target
from agreement_operator.controller import conditions, handlers
from agreement_operator.failures import PermanentFailure

LOGGER = logging.getLogger("test")


def with_lambda(memo: kopf.Memo, functions) -> kopf.Memo:
    """The memo, its Lambda target using `functions`."""
    target = lambda_target.LambdaTarget.single(functions, memo.config)
    return kopf.Memo({**memo, "targets": {**memo.targets, "lambda": target}})


def metric(spec: dict, status: dict | None = None, generation: int = 1, annotations: dict | None = None) -> kopf.Body:
    return kopf.Body({
        "apiVersion": "agreement.dev/v1alpha1", "kind": "AgreementMetric",
        "metadata": {"name": "sentiment", "namespace": "labeling", "uid": "uid-1", "generation": generation,
                     "annotations": annotations or {}},
        "spec": spec, "status": status or {},
    })


def call(handler, body: kopf.Body, memo: kopf.Memo, patch: kopf.Patch | None = None):
    return handler(body=body, spec=body.spec, meta=body.meta, status=body.status,
                   patch=patch if patch is not None else kopf.Patch(), memo=memo, logger=LOGGER)


def test_reconcile_writes_status_and_posts_events(memo, posted, good_metric):
    patch = kopf.Patch()
    call(handlers.reconcile_metric, metric({"code": good_metric}), memo, patch)
    assert conditions.find(patch["status"], "Ready")["status"] == "True"
    assert patch["status"]["functionNames"] == ["custom-metric-labeling-sentiment"]
    assert [event.reason for event in posted] == ["Created"]


def test_a_restart_does_not_announce_again_a_metric_still_stalled_for_the_same_reason(memo, posted):
    """Regression: every restart (and every upgrade) of the operator posted the InvalidCode Warning of each
    Stalled metric again, though nothing had changed."""
    broken = metric({"code": "def agreement(annotation_1, annotation_2, per_label=False):\n    return [\n"})
    patch = kopf.Patch()
    call(handlers.reconcile_metric, broken, memo, patch)
    assert [(event.reason, event.warning) for event in posted] == [("InvalidCode", True)]
    stalled = metric(dict(broken.spec), dict(patch["status"]))
    posted.clear()
    restart = kopf.Patch()
    call(handlers.resume_metric, stalled, memo, restart)
    assert (dict(restart), posted) == ({}, [])
    # A person's change that leaves it Stalled is answered, as before.
    call(handlers.reconcile_metric, stalled, memo, kopf.Patch())
    assert [event.reason for event in posted] == ["InvalidCode"]


def test_kopfs_handlers_write_status_through_the_operators_checked_write(memo, good_metric):
    """kopf's own patch carries no status: memo.write_status checks every status write for pruned fields."""
    writes: list[tuple[str, str, dict]] = []
    checked = kopf.Memo({**memo, "write_status": lambda namespace, name, fields, **_: writes.append((namespace, name,
                                                                                                 fields))})
    patch = kopf.Patch()
    call(handlers.status_written_by_the_operator(handlers.reconcile_metric), metric({"code": good_metric}), checked,
         patch)
    assert "status" not in patch
    assert {(namespace, name) for namespace, name, _ in writes} == {("labeling", "sentiment")}
    assert writes[0][2] == {**writes[0][2], "functionNames": ["custom-metric-labeling-sentiment"]}  # before create
    assert conditions.find(writes[-1][2], "Ready")["status"] == "True"


def test_resync_skips_a_metric_stalled_at_its_generation(memo, posted, recorder, good_metric):
    memo.resync.done("uid-1", again_now=True)  # due now
    stalled = {"conditions": [{"type": "Stalled", "status": "True", "observedGeneration": 3}]}
    patch = kopf.Patch()
    call(handlers.resync_metric, metric({"code": good_metric}, stalled, generation=3), memo, patch)
    assert (dict(patch), posted, recorder.calls) == ({}, [], [])
    # Stalled at an older generation: the user changed something, and the change handler reconciles it.
    memo.resync.done("uid-1", again_now=True)
    call(handlers.resync_metric, metric({"code": good_metric}, stalled, generation=4), memo, patch)
    assert (dict(patch), posted, recorder.calls) == ({}, [], [])


def test_resync_leaves_a_metric_waiting_for_its_turn_to_the_change_handler(memo, posted, recorder, good_metric):
    """Regression: the timer reconciled metrics waiting for the quota beside kopf's retry of the change
    handler, and each tick rewrote their status (1,000 metrics: 5.5 metric and 3.5 status patches each)."""
    memo.resync.done("uid-1", again_now=True)
    waiting = {"observedGeneration": 1, "functionNames": ["custom-metric-labeling-sentiment"],
               "conditions": conditions.conditions(handlers.DEPLOYING.phase, "WaitingForQuota", "its turn in 50 s", 1)}
    patch = kopf.Patch()
    call(handlers.resync_metric, metric({"code": good_metric}, waiting), memo, patch)
    assert (dict(patch), posted, recorder.calls) == ({}, [], [])


def test_a_refused_delete_keeps_the_resource_and_says_why(memo, posted, good_metric, functions):
    call(handlers.reconcile_metric, metric({"code": good_metric}), memo)

    class Refusing(type(functions)):
        def delete(self, name):
            raise PermanentFailure("AccessDenied", "AWS denied lambda:DeleteFunction on " + name)

    refusing = with_lambda(memo, Refusing(functions.client))
    with pytest.raises(kopf.TemporaryError) as raised:
        deployed = {"functionName": "custom-metric-labeling-sentiment"}
        call(handlers.delete_metric, metric({"code": good_metric}, deployed), refusing)
    assert raised.value.delay == handlers.DELETE_RETRY_SECONDS
    assert "set spec.deletionPolicy: Retain" in str(raised.value)
    assert posted[-1].reason == "AccessDenied" and posted[-1].warning


def test_an_unexpected_error_replaces_stale_conditions_and_is_raised_again(memo, good_metric, functions):
    ready = {"conditions": conditions.conditions(conditions.Phase.READY, "Deployed", "ok", 1)}

    class Broken(type(functions)):
        def read(self, name):
            raise KeyError("Configuration")

    patch = kopf.Patch()
    with pytest.raises(KeyError):
        broken = with_lambda(memo, Broken(functions.client))
        call(handlers.reconcile_metric, metric({"code": good_metric}, ready), broken, patch)
    assert conditions.find(patch["status"], "Ready")["status"] == "False"
    reconciling = conditions.find(patch["status"], "Reconciling")
    assert (reconciling["status"], reconciling["reason"]) == ("True", "InternalError")
    assert "KeyError" in reconciling["message"]


def test_the_status_writer_gets_the_metric_and_the_names(memo, good_metric):
    recorded = []
    memo = kopf.Memo({**memo, "write_status": lambda namespace, name, patch, **_: recorded.append(
        (namespace, name, patch))})
    call(handlers.reconcile_metric, metric({"code": good_metric}), memo)
    [(namespace, name, written)] = recorded
    assert (namespace, name) == ("labeling", "sentiment")
    assert written["functionNames"] == ["custom-metric-labeling-sentiment"]
    # a new metric: the same write tells kstatus it is in progress, before the create
    assert written["observedGeneration"] == 1
    assert conditions.find(written, "Reconciling")["status"] == "True"
    assert conditions.find(written, "Ready")["status"] == "False"


def deployed_status(memo, good_metric) -> dict:
    patch = kopf.Patch()
    call(handlers.reconcile_metric, metric({"code": good_metric}), memo, patch)
    return dict(patch["status"])


def test_a_pass_that_changes_nothing_writes_nothing(memo, posted, recorder, good_metric):
    status = deployed_status(memo, good_metric)
    posted.clear()
    recorder.clear()
    patch = kopf.Patch()
    call(handlers.reconcile_metric, metric({"code": good_metric}, status), memo, patch)
    assert recorder.calls == ["GetFunction"]
    assert (dict(patch), posted) == ({}, [])


def test_a_restart_with_a_metric_ready_as_specified_calls_nothing(memo, posted, recorder, good_metric):
    status = deployed_status(memo, good_metric)
    recorder.clear()
    patch = kopf.Patch()
    call(handlers.resume_metric, metric({"code": good_metric}, status), memo, patch)
    assert (recorder.calls, dict(patch)) == ([], {})
    # A new wrapper or code not yet deployed is not "as specified": the resume reconciles.
    call(handlers.resume_metric, metric({"code": good_metric + "# v2\n"}, status), memo, patch)
    assert "UpdateFunctionCode" in recorder.calls


def test_a_configmap_listed_again_at_its_seen_revision_marks_nothing(memo):
    marked = []
    memo = kopf.Memo({**memo, "mark_revision": lambda *args: marked.append(args)})
    configmap = kopf.Body({"metadata": {"name": "code", "namespace": "labeling", "resourceVersion": "7"}})
    index = {("labeling", "code"): [("seen", "7"), ("stale", "6")]}
    handlers.configmap_changed(type=None, body=configmap, namespace="labeling", name="code",
                               metrics_by_configmap=index, memo=memo, logger=LOGGER)
    assert marked == [("labeling", "stale", "agreement.dev/configmap-revision", "7")]


@pytest.fixture
def project_memo(memo, studio) -> kopf.Memo:
    from agreement_operator.label_studio_target.label_studio_api import LabelStudioProjects

    target = label_studio_target.LabelStudioTarget(LabelStudioProjects(studio.url, studio.legacy_token), memo.config)
    return kopf.Memo({**memo, "targets": {**memo.targets, "label_studio": target}})


def test_a_project_metric_is_deployed_through_label_studio_and_not_to_lambda(
        project_memo, posted, studio, recorder, good_metric):
    project = studio.add_project()
    body = metric({"code": good_metric, "labelStudio": {"project": project}})
    with pytest.raises(kopf.TemporaryError):  # deployed; kopf comes back at once to see it Active
        call(handlers.reconcile_metric, body, project_memo)
    patch = kopf.Patch()
    call(handlers.reconcile_metric, body, project_memo, patch)
    assert conditions.find(patch["status"], "Ready")["status"] == "True"
    assert patch["status"]["labelStudio"]["functionStatus"] == "Active"
    assert "functionName" not in patch["status"] and recorder.calls == []
    assert [event.reason for event in posted] == ["CodeDeployed"]


def deployed_through_the_project(memo, spec) -> dict:
    """The status of a project metric once Label Studio reports its code Active (two passes)."""
    with pytest.raises(kopf.TemporaryError):  # deployed; kopf comes back at once to see it Active
        call(handlers.reconcile_metric, metric(spec), memo)
    patch = kopf.Patch()
    call(handlers.reconcile_metric, metric(spec), memo, patch)
    return dict(patch["status"])


def test_a_restart_and_a_resync_of_a_ready_project_metric(project_memo, posted, studio, good_metric):
    project = studio.add_project()
    spec = {"code": good_metric, "labelStudio": {"project": project}}
    ready = deployed_through_the_project(project_memo, spec)
    before = studio.project_requests[project].copy()
    call(handlers.resume_metric, metric(spec, ready), project_memo)
    assert studio.project_requests[project] == before  # Ready as specified: no request at all
    project_memo.resync.done("uid-1", again_now=True)
    studio.add_log(project, "[ERROR] KeyError: 'choices'")
    patch = kopf.Patch()
    call(handlers.resync_metric, metric(spec, ready), project_memo, patch)
    assert patch["status"]["functionErrors"]["count"] == 1
    assert posted[-1].reason == "FunctionErrors" and posted[-1].warning


def test_a_lambda_metric_on_an_operator_without_aws_is_stalled_saying_why(memo, posted, good_metric):
    patch = kopf.Patch()
    without_aws = kopf.Memo({**memo, "targets": {**memo.targets, "lambda": lambda_target.NOT_CONFIGURED}})
    call(handlers.reconcile_metric, metric({"code": good_metric}), without_aws, patch)
    stalled = conditions.find(patch["status"], "Stalled")
    assert (stalled["status"], stalled["reason"]) == ("True", "LambdaNotConfigured")
    assert "spec.labelStudio.project" in stalled["message"]


def test_deleting_a_project_metric_says_the_project_keeps_its_code(project_memo, posted, studio, good_metric):
    project = studio.add_project()
    call(handlers.delete_metric, metric({"code": good_metric, "labelStudio": {"project": project}}), project_memo)
    assert [event.reason for event in posted] == ["CodeKeptInProject"]
    assert project not in studio.project_requests


def test_a_resync_of_a_ready_metric_writes_whether_anyone_invokes_its_function(memo, posted, good_metric, functions,
                                                                                config):
    from agreement_operator.lambda_target import cloudwatch_metrics
    from agreement_operator.lambda_target.usage import UsageBoard

    board = UsageBoard(cloudwatch_metrics.FunctionMetrics(cloudwatch_metrics.make_client(config.region)), 3600, 300)
    target = lambda_target.LambdaTarget.single(functions, config, usage=board)
    memo = kopf.Memo({**memo, "targets": {**memo.targets, "lambda": target}})
    status = deployed_status(memo, good_metric)
    patch = kopf.Patch()
    call(handlers.resync_metric, metric({"code": good_metric}, status), memo, patch)
    usage = patch["status"]["usage"]
    assert (usage["window"], usage["invocations"], usage["errors"], usage["throttles"]) == ("1h", 0, 0, 0)
    again = kopf.Patch()
    call(handlers.resync_metric, metric({"code": good_metric}, {**status, "usage": usage}), memo, again)
    assert "usage" not in again.get("status", {})  # looked at once per interval, and written only when it changed


def test_a_resync_writes_the_agreement_the_project_computes_and_a_pass_after_it_writes_nothing(
        project_memo, studio, good_metric):
    project = studio.add_project()
    choice = {"result": [{"type": "choices", "from_name": "s", "to_name": "t", "value": {"choices": ["A"]}}]}
    other = {"result": [{"type": "choices", "from_name": "s", "to_name": "t", "value": {"choices": ["B"]}}]}
    studio.add_task(project, [choice, choice])  # agree: 1.0
    studio.add_task(project, [choice, other])  # disagree: 0.0
    spec = {"code": good_metric, "labelStudio": {"project": project}}
    ready = deployed_through_the_project(project_memo, spec)
    project_memo.resync.done("uid-1", again_now=True)
    looked = kopf.Patch()
    call(handlers.resync_metric, metric(spec, ready), project_memo, looked)
    assert looked["status"]["labelStudio"]["agreement"] == 0.5  # the deployed code, run as Label Studio would
    assert looked["status"]["labelStudio"]["codeSha256"] == ready["labelStudio"]["codeSha256"]
    status = {**ready, "labelStudio": looked["status"]["labelStudio"]}
    again = kopf.Patch()
    call(handlers.reconcile_metric, metric(spec, status), project_memo, again)
    assert dict(again) == {}  # the agreement is kept: a pass that changes nothing writes nothing


def test_a_delete_that_lambda_answers_retryable_without_retry_after_backs_off(memo, posted, good_metric, functions):
    """A 503 without Retry-After once made kopf retry the delete at once: about 14 GetFunction a second
    and a Warning Event each time, for as long as Lambda answered so."""
    from agreement_operator.failures import RetryableFailure

    call(handlers.reconcile_metric, metric({"code": good_metric}), memo)

    class Unavailable(type(functions)):
        def read(self, name):
            raise RetryableFailure("ServiceException", "lambda:GetFunction on " + name + ": Service unavailable")

    unavailable = with_lambda(memo, Unavailable(functions.client))
    deployed = {"functionName": "custom-metric-labeling-sentiment"}
    delays = []
    for retry in range(4):
        with pytest.raises(kopf.TemporaryError) as raised:
            handlers.delete_metric(body=metric({"code": good_metric}, deployed), spec={"code": good_metric},
                                   meta=metric({"code": good_metric}).meta, status=deployed, memo=unavailable,
                                   retry=retry)
        delays.append(raised.value.delay)
    assert all(delay is not None and delay >= 1.0 for delay in delays), delays


def test_the_periodic_checks_remove_a_failure_message_once_the_read_works(memo, good_metric, functions, config):
    """Regression: after a CloudWatch outage, status.usage.message kept saying the numbers could not be read,
    beside fresh numbers: the periodic write was a merge patch that left the key out instead of removing it."""
    from agreement_operator.controller import periodic
    from agreement_operator.lambda_target import cloudwatch_metrics
    from agreement_operator.lambda_target.usage import UsageBoard

    board = UsageBoard(cloudwatch_metrics.FunctionMetrics(cloudwatch_metrics.make_client(config.region)), 3600, 300)
    target = lambda_target.LambdaTarget.single(functions, config, usage=board)
    status = deployed_status(kopf.Memo({**memo, "targets": {**memo.targets, "lambda": target}}), good_metric)
    stale = {**status, "usage": {"window": "1h", "invocations": 0, "errors": 0, "throttles": 0,
                                 "message": "the function's invocations could not be read at 2026-12-06T10:00:00Z: "
                                            "503 Service Unavailable"}}
    writes: list[dict] = []
    looking = kopf.Memo({**memo, "targets": {**memo.targets, "lambda": target}, "periodic_attempts": {},
                         "read_metric": lambda namespace, name: metric({"code": good_metric}, stale),
                         "write_status": lambda namespace, name, fields, **_: writes.append(fields),
                         "post_event_outside_kopf": lambda body, event: None})
    looking.resync.done("uid-1")  # only the usage look is due
    looking.usage_looks.done("uid-1", again_now=True)
    handlers.look_after_metric(looking, "uid-1", periodic.Summary("labeling", "sentiment", True, 0.0))
    [written] = writes
    assert written["usage"]["message"] is None and written["usage"]["invocations"] == 0


def test_a_throttling_episode_posts_one_warning_and_one_recovered(memo, posted, good_metric, client, throttle):
    """Regression: every pass that met Lambda's throttling posted another Warning Event (9-10 per metric in
    30 s of 429s); now the episode's first posts it, the repeats are silent, and Ready again says how long."""
    deployed = deployed_status(memo, good_metric)
    posted.clear()
    changed = {"code": good_metric.replace("1.0", "0.5")}
    throttle(client, count=10, retry_after="3")
    status, passes = deployed, 0
    while True:
        patch, passes = kopf.Patch(), passes + 1
        try:
            call(handlers.reconcile_metric, metric(changed, status, generation=2), memo, patch)
            break
        except kopf.TemporaryError:
            status = {**status, **patch.get("status", {})}
    status = {**status, **patch.get("status", {})}
    assert passes == 11 and conditions.is_true(status, "Ready", 2)
    assert [(event.reason, event.warning) for event in posted] == [
        ("TooManyRequestsException", True), ("CodeUpdated", False), ("Recovered", False)]
    assert "of TooManyRequestsException (10 passes met it)" in posted[-1].message


def test_a_metric_stalled_by_an_iam_policy_comes_back_by_itself_once_it_is_fixed(
        memo, posted, good_metric, functions, lambda_client_for_policy, monkeypatch):
    """Regression: a metric Stalled AccessDenied stayed Stalled after the policy was fixed, until a person
    touched it (with 1,000 metrics, fixing one IAM policy meant editing 1,000 resources)."""
    import json

    import boto3
    from moto import settings as moto_settings

    from agreement_operator.controller import periodic
    from agreement_operator.lambda_target import lambda_api

    only_reads = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": ["lambda:GetFunction"], "Resource": "*"}]}
    denied = with_lambda(memo, lambda_api.LambdaFunctions(lambda_client_for_policy(only_reads)))
    first = kopf.Patch()
    call(handlers.reconcile_metric, metric({"code": good_metric}), denied, first)
    stalled = dict(first["status"])
    assert conditions.find(stalled, "Stalled")["reason"] == "AccessDenied"
    summary = periodic.Summary("labeling", "sentiment", False, 0.0,
                               handlers.stalled_outside(stalled, 1))
    assert summary.stalled_outside and [event.reason for event in posted] == ["AccessDenied"]

    writes: list[dict] = []

    def looking(target_memo):
        return kopf.Memo({**target_memo, "periodic_attempts": {},
                          "post_event_outside_kopf": lambda body, event: posted.append(event),
                          "read_metric": lambda namespace, name: metric({"code": good_metric}, stalled),
                          "write_status": lambda namespace, name, fields, **_: writes.append(fields)})

    denied.stall_looks.again("uid-1")  # its look is due (as if its backoff had passed)
    denied.stall_looks._next["uid-1"] = (0.0, 10.0)
    assert handlers.periodic_work_due(looking(denied), "uid-1", summary)
    handlers.look_after_metric(looking(denied), "uid-1", summary)
    assert (writes, [event.reason for event in posted]) == ([], ["AccessDenied"])  # still denied: silent
    assert not handlers.periodic_work_due(looking(denied), "uid-1", summary)  # the next look is further away

    # Someone fixes the IAM policy (moto checks no credentials while the test does it as an administrator).
    monkeypatch.setattr(moto_settings, "INITIAL_NO_AUTH_ACTION_COUNT", float("inf"))
    boto3.client("iam", region_name=denied.config.region).put_user_policy(
        UserName="agreement-operator", PolicyName="operator", PolicyDocument=json.dumps({
            "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": ["lambda:*", "iam:PassRole"],
                                                    "Resource": "*"}]}))
    monkeypatch.setattr(moto_settings, "INITIAL_NO_AUTH_ACTION_COUNT", 0)
    denied.stall_looks._next["uid-1"] = (0.0, 20.0)  # the next look's time came
    handlers.look_after_metric(looking(denied), "uid-1", summary)
    assert conditions.is_true(writes[-1], "Ready", 1)
    assert [event.reason for event in posted] == ["AccessDenied", "Created", "Recovered"]
    assert "of AccessDenied" in posted[-1].message
