"""Who may change a Label Studio project's code: the marker, claims, adoption and tenancy, against the
local Label Studio API server."""

import dataclasses
import logging

import pytest

from agreement_operator.config import Config, LabelStudioConnection
from agreement_operator.label_studio_target import LabelStudioTarget, marker, reconcile
from agreement_operator.label_studio_target.label_studio_api import LabelStudioProjects
from agreement_operator.metric.owner import Owner
from agreement_operator.target import Phase

CONFIG = Config(region=None, execution_role_arn=None, cluster_id="test-cluster", adopt_namespaces=("labeling",))
CODE = "def agreement(annotation_1, annotation_2, per_label=False):\n    return 1.0\n"
OTHER = CODE.replace("1.0", "0.0")
TEAM_A = Owner("test-cluster", "team-a", "m", "uid-a")
TEAM_B = Owner("test-cluster", "team-b", "m", "uid-b")


@pytest.fixture
def projects(studio) -> LabelStudioProjects:
    return LabelStudioProjects(studio.url, studio.legacy_token)


def settle(request, projects, config=CONFIG, passes=4):
    """Passes as the operator makes them, each seeing the status the last one wrote; the events of all."""
    status, events = dict(request.status), []
    for attempt in range(passes):
        outcome = reconcile.reconcile(dataclasses.replace(request, attempt=attempt, status=status), projects, config)
        status.update(outcome.status)
        events += outcome.events
        if outcome.phase is not Phase.RECONCILING:
            break
    return dataclasses.replace(outcome, events=events)


def spec(project: int, code: str = CODE) -> dict:
    return {"code": code, "labelStudio": {"project": project}}


def test_the_marker_names_the_owner_and_code_is_compared_without_it():
    posted = marker.marked(CODE, TEAM_A)
    assert posted.splitlines()[0].startswith("# agreement-operator: AgreementMetric team-a/m, cluster test-cluster")
    assert marker.unmarked(posted) == CODE and marker.unmarked(CODE) == CODE
    assert marker.owner_of(posted) == TEAM_A and marker.owner_of(CODE) is None
    assert marker.marked(posted, TEAM_A) == posted  # stable: the same metric always posts the same code
    compile(posted, "metric.py", "exec")  # a comment to Python


def test_two_metrics_on_one_project_the_second_is_stalled_and_the_first_stays_ready(studio, projects, request_for):
    project = studio.add_project()
    first = settle(request_for(spec(project), owner=TEAM_A), projects)
    assert first.phase is Phase.READY
    before = dict(studio.project_requests[project])
    second = reconcile.reconcile(request_for(spec(project, OTHER), owner=TEAM_B), projects, CONFIG)
    assert (second.phase, second.reason) == (Phase.STALLED, "ProjectOwnedElsewhere")
    assert "runs the code of AgreementMetric team-a/m in cluster 'test-cluster'" in second.message
    made = {key: count - before.get(key, 0) for key, count in studio.project_requests[project].items()
            if count != before.get(key, 0)}
    assert made == {"GET function": 1}  # the read, nothing more
    again = settle(request_for(spec(project), owner=TEAM_A), projects)  # a resync of the first
    assert again.phase is Phase.READY and [event.reason for event in again.events] == []
    assert marker.unmarked(studio.function(project).code) == CODE


def test_code_written_by_hand_is_left_alone_without_the_adopt_annotation(studio, projects, request_for):
    project = studio.add_project()
    studio.write_by_hand(project, OTHER)
    outcome = reconcile.reconcile(request_for(spec(project)), projects, CONFIG)
    assert (outcome.phase, outcome.reason) == (Phase.STALLED, "FunctionNotManaged")
    assert 'agreement.dev/adopt: "true"' in outcome.message
    assert studio.function(project).code == OTHER and studio.project_requests[project]["POST function"] == 0


def test_adoption_replaces_hand_written_code_and_keeps_a_trace_of_it(studio, projects, request_for, caplog):
    project = studio.add_project()
    studio.write_by_hand(project, OTHER)
    with caplog.at_level(logging.INFO, logger="agreement_operator.label_studio_target.ownership"):
        outcome = settle(request_for(spec(project), adopt=True), projects)
    assert outcome.phase is Phase.READY, outcome.message
    assert outcome.status["labelStudio"]["adoptedCodeSha256"] == reconcile.code_sha256(OTHER)
    assert OTHER in caplog.text  # the code it replaced, whole, in the operator's log
    adopted = [event for event in outcome.events if event.reason == "Adopted"]
    assert len(adopted) == 1 and reconcile.code_sha256(OTHER) in adopted[0].message
    assert marker.unmarked(studio.function(project).code) == CODE


def test_a_namespace_not_allowed_to_adopt_is_stalled(studio, projects, request_for):
    project = studio.add_project()
    studio.write_by_hand(project, OTHER)
    outcome = reconcile.reconcile(request_for(spec(project), owner=TEAM_B, adopt=True), projects, CONFIG)
    assert (outcome.phase, outcome.reason) == (Phase.STALLED, "AdoptionNotAllowed")


def test_the_code_of_a_deleted_metric_of_this_cluster_is_taken_over(studio, projects, request_for):
    project = studio.add_project()
    studio.write_by_hand(project, marker.marked(OTHER, TEAM_A))
    gone = settle(request_for(spec(project), owner=TEAM_B, metric_exists=lambda namespace, name: False), projects)
    assert gone.phase is Phase.READY and marker.owner_of(studio.function(project).code) == TEAM_B
    studio.write_by_hand(project, marker.marked(OTHER, TEAM_A))
    alive = reconcile.reconcile(request_for(spec(project), owner=TEAM_B, metric_exists=lambda namespace, name: True),
                                projects, CONFIG)
    assert alive.reason == "ProjectOwnedElsewhere"


def test_a_recreated_resource_and_code_from_before_markers_are_its_own(studio, projects, request_for):
    project = studio.add_project()
    studio.write_by_hand(project, marker.marked(CODE, TEAM_A))
    recreated = settle(request_for(spec(project), owner=dataclasses.replace(TEAM_A, uid="uid-new")), projects)
    assert recreated.phase is Phase.READY and "uid uid-new" in studio.function(project).code
    studio.write_by_hand(project, CODE)  # what an operator before markers posted
    upgraded = settle(request_for(spec(project), owner=TEAM_A), projects)
    assert upgraded.phase is Phase.READY and marker.owner_of(studio.function(project).code) == TEAM_A


def test_a_namespace_the_connection_is_not_for_makes_no_request(studio, projects, request_for):
    project = studio.add_project()
    only_qa = dataclasses.replace(CONFIG, label_studio_namespaces=("qa",))
    outcome = LabelStudioTarget(projects, only_qa).reconcile(request_for(spec(project)))
    assert (outcome.phase, outcome.reason) == (Phase.STALLED, "LabelStudioNamespaceNotAllowed")
    assert "AGREEMENT_OPERATOR_LABEL_STUDIO_NAMESPACES" in outcome.message
    assert project not in studio.project_requests and studio.requests["GET version"] == 0


def test_each_connection_serves_its_namespaces_and_claims_are_per_label_studio(request_for):
    from agreement_operator.sandbox.label_studio_server import LabelStudioServer

    staging, production = (LabelStudioServer(activation_seconds=0).start() for _ in range(2))
    try:
        config = dataclasses.replace(CONFIG, label_studio_named=(
            LabelStudioConnection("staging", staging.url, staging.legacy_token, ("labeling",)),
            LabelStudioConnection("production", production.url, production.legacy_token, ("team-b",))))
        connections = {name: LabelStudioProjects(server.url, server.legacy_token)
                       for name, server in (("staging", staging), ("production", production))}
        serving = LabelStudioTarget(connections, config)
        first, second = staging.add_project(), production.add_project()
        assert first == second == 1  # the same project id on two Label Studio instances
        on_staging = request_for({"code": CODE, "labelStudio": {"project": 1, "connection": "staging"}})
        on_production = request_for({"code": OTHER, "labelStudio": {"project": 1, "connection": "production"}},
                                    owner=TEAM_B)
        for request in (on_staging, on_production):
            outcome = serving.reconcile(request)
            for attempt in range(1, 4):
                if outcome.phase is not Phase.RECONCILING:
                    break
                outcome = serving.reconcile(dataclasses.replace(request, attempt=attempt))
            assert outcome.phase is Phase.READY, outcome.message  # no claim across instances
        assert marker.owner_of(staging.function(1).code).namespace == "labeling"
        assert marker.owner_of(production.function(1).code) == TEAM_B
        refused = serving.reconcile(dataclasses.replace(on_staging, owner=TEAM_B))  # team-b may not use staging
        assert refused.reason == "LabelStudioNamespaceNotAllowed" and "'staging'" in refused.message
        unknown = serving.reconcile(request_for({"code": CODE, "labelStudio": {"project": 1, "connection": "qa"}}))
        assert unknown.reason == "LabelStudioConnectionNotFound" and "production, staging" in unknown.message
    finally:
        staging.stop()
        production.stop()
