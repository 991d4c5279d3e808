"""Deploying through a Label Studio project, pass by pass, against the local Label Studio API server."""

import dataclasses

import pytest

from agreement_operator import label_studio_target
from agreement_operator.config import Config
from agreement_operator.controller import conditions
from agreement_operator.label_studio_target import reconcile
from agreement_operator.label_studio_target.label_studio_api import LabelStudioProjects
from agreement_operator.label_studio_target.marker import unmarked
from agreement_operator.target import Phase, Request

CONFIG = Config(region=None, execution_role_arn=None, cluster_id="test-cluster", adopt_namespaces=("labeling",))
CODE = "def agreement(annotation_1, annotation_2, per_label=False):\n    return 1.0\n"


@pytest.fixture
def projects(studio) -> LabelStudioProjects:
    return LabelStudioProjects(studio.url, studio.personal_access_token)


def spec(project: int, code: str = CODE, **target) -> dict:
    return {"code": code, "labelStudio": {"project": project, **target}}


def until_settled(request: Request, projects, passes=5):
    """Run passes as kopf would (a requeue after each InProgress) until one settles."""
    for attempt in range(passes):
        outcome = reconcile.reconcile(dataclasses.replace(request, attempt=attempt), projects, CONFIG)
        if outcome.phase is not Phase.RECONCILING:
            return outcome
    return outcome


def test_a_new_metric_is_checked_deployed_and_ready_once_active(studio, projects, request_for):
    project = studio.add_project()
    first = reconcile.reconcile(request_for(spec(project)), projects, CONFIG)
    assert (first.phase, first.reason) == (Phase.RECONCILING, "FunctionPending")
    assert [event.reason for event in first.events] == ["CodeDeployed"]
    assert first.retry_delay == 0.0  # 200: Label Studio took it at once; look again right away
    outcome = reconcile.reconcile(request_for(spec(project)), projects, CONFIG)
    assert outcome.phase is Phase.READY, outcome.message
    posted = studio.projects[project].code
    assert unmarked(posted) == CODE and posted.startswith("# agreement-operator: AgreementMetric labeling/sentiment")
    assert outcome.status["labelStudio"] == {"project": project, "functionStatus": "Active",
                                             "codeSha256": reconcile.code_sha256(posted)}
    assert studio.project_requests[project] == {"GET function": 2, "POST check-function": 1, "POST function": 1}


def test_an_accepted_deploy_is_pending_with_a_growing_delay(studio, projects, request_for):
    studio.activation_seconds = 60
    project = studio.add_project()
    request = request_for(spec(project))
    reconcile.reconcile(request, projects, CONFIG)
    delays = [reconcile.reconcile(request_for(spec(project), attempt=n), projects, CONFIG).retry_delay
              for n in (0, 4)]
    assert delays[0] < delays[1] <= 11
    pending = reconcile.reconcile(request, projects, CONFIG)
    assert (pending.phase, pending.reason) == (Phase.RECONCILING, "FunctionPending")
    assert pending.status["labelStudio"]["functionStatus"] == "Pending"
    assert studio.project_requests[project]["POST function"] == 1


def test_unchanged_code_makes_no_post_and_changed_code_one(studio, projects, request_for):
    project = studio.add_project()
    until_settled(request_for(spec(project)), projects)
    before = studio.project_requests[project].copy()
    assert reconcile.reconcile(request_for(spec(project)), projects, CONFIG).phase is Phase.READY
    assert studio.project_requests[project] - before == {"GET function": 1}
    assert until_settled(request_for(spec(project, CODE + "# v2\n")), projects).phase is Phase.READY
    assert studio.project_requests[project]["POST function"] == 2
    assert unmarked(studio.projects[project].code) == CODE + "# v2\n"


def test_code_label_studio_refuses_is_stalled_with_its_message_and_nothing_deployed(studio, projects, request_for):
    """Our checks pass (it parses, defines agreement), Label Studio's check refuses: its word wins."""
    project = studio.add_project()
    studio.fail_next("POST check-function", 400, {"detail": "Validation error",
                                                   "validation_errors": {"code": ["imports are not allowed"]}})
    outcome = reconcile.reconcile(request_for(spec(project)), projects, CONFIG)
    assert (outcome.phase, outcome.reason) == (Phase.STALLED, "CodeRejected")
    assert "imports are not allowed" in outcome.message
    assert studio.projects[project].code == "" and studio.project_requests[project]["POST function"] == 0


def test_invalid_code_is_stalled_before_any_request(studio, projects, request_for):
    project = studio.add_project()
    outcome = reconcile.reconcile(request_for(spec(project, "def agreement(:\n")), projects, CONFIG)
    assert (outcome.phase, outcome.reason) == (Phase.STALLED, "InvalidCode")
    assert project not in studio.project_requests


def test_a_failed_activation_is_stalled_with_the_error_from_the_logs(studio, projects, request_for):
    project = studio.add_project()
    studio.fail_activation(project, "[ERROR] ImportError: No module named 'numpy'\nTraceback (most recent "
                                    'call last):\n  File "/var/task/metric.py", line 1, in <module>')
    outcome = until_settled(request_for(spec(project)), projects)
    assert (outcome.phase, outcome.reason) == (Phase.STALLED, "FunctionFailed")
    assert "Failed: the metric raised ImportError: No module named 'numpy' at line 1" in outcome.message


def test_the_metric_name_is_selected_once(studio, projects, request_for):
    project = studio.add_project()
    request = request_for(spec(project, metricName="custom"))
    outcome = until_settled(request, projects)
    assert outcome.phase is Phase.READY and studio.projects[project].metric_name == "custom"
    assert "MetricSelected" in [event.reason for event in outcome.events]
    again = reconcile.reconcile(request, projects, CONFIG)
    assert [event.reason for event in again.events] == [] and studio.project_requests[project]["POST metricparam"] == 1
    assert again.status["labelStudio"]["metricName"] == "custom"


def test_smoke_tests_are_reported_as_not_run_remotely(studio, projects, request_for):
    project = studio.add_project()
    tests = [{"name": "same", "annotation1": {"result": []}, "annotation2": {"result": []}, "expect": 1.0}]
    outcome = until_settled(request_for({**spec(project), "tests": tests}), projects)
    assert outcome.status["tests"]["summary"] == "not run" and outcome.status["tests"]["total"] == 1
    assert "agreement-operator test" in outcome.status["tests"]["message"]
    assert "1 smoke tests not run remotely" in outcome.message


def test_without_a_label_studio_the_metric_is_stalled_saying_what_to_set(request_for):
    outcome = label_studio_target.NOT_CONFIGURED.reconcile(request_for(spec(1)))
    assert (outcome.phase, outcome.reason) == (Phase.STALLED, "LabelStudioNotConfigured")
    assert "LABEL_STUDIO_URL" in outcome.message and "labelStudio.existingSecret" in outcome.message


def test_a_restart_needs_no_request_when_status_shows_the_spec_code(studio, projects, request_for):
    project = studio.add_project()
    outcome = until_settled(request_for(spec(project)), projects)
    status = conditions.status_for(outcome, 1, {})
    assert reconcile.deployed_as_specified(request_for(spec(project), status=status))
    assert not reconcile.deployed_as_specified(request_for(spec(project, CODE + "#"), status=status))
    assert not reconcile.deployed_as_specified(request_for(spec(project + 1), status=status))


def test_delete_calls_nothing_and_says_the_project_keeps_its_code(studio, projects, request_for):
    project = studio.add_project()
    until_settled(request_for(spec(project)), projects)
    before = studio.requests.copy()
    events = reconcile.delete(request_for(spec(project)))
    assert [event.reason for event in events] == ["CodeKeptInProject"]
    assert f"project {project} keeps the last code" in events[0].message
    assert studio.requests == before and unmarked(studio.projects[project].code) == CODE
