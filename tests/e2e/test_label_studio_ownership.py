"""Label Studio projects owned like functions, through the real apiserver: claims, adoption, tenancy,
two Label Studio connections, and the agreement the project computes, against the local Label Studio
API server over HTTP. An operator of its own serves the test's namespaces."""

import json
import time
import uuid
from collections import Counter
from contextlib import ExitStack

import pytest

from agreement_operator.label_studio_target import marker
from agreement_operator.metric.owner import Owner
from agreement_operator.sandbox import operator_process
from agreement_operator.sandbox.label_studio_server import LabelStudioServer

CODE = "def agreement(annotation_1, annotation_2, per_label=False):\n    return 1.0\n"
MATCH = ("def agreement(annotation_1, annotation_2, per_label=False):\n"
         "    return float(annotation_1['result'] == annotation_2['result'])\n")
RESYNC_SECONDS = 2.0


def choice(value: str) -> dict:
    return {"result": [{"type": "choices", "from_name": "s", "to_name": "t", "value": {"choices": [value]}}]}


@pytest.fixture
def setting(box, cluster, operator, tmp_path):
    """Two namespaces (the test's, and `other`, whose metrics the connection does not serve), a second
    Label Studio (the connection `staging`), and an operator behind both."""
    studio = box.label_studio
    studio.activation_seconds = 0.5
    other = f"{cluster.namespace}-x"
    cluster.kubectl("create", "namespace", other)
    staging = LabelStudioServer(activation_seconds=0.5).start()
    (tmp_path / "staging-key").write_text(staging.legacy_token)
    connections = [{"name": "staging", "url": staging.url, "apiKeyFile": str(tmp_path / "staging-key"),
                    "namespaces": [cluster.namespace]}]
    with operator.paused(), ExitStack() as stack:
        stack.callback(staging.stop)
        operator_process.start(box.workdir, stack, box.control_plane, box.aws, {
            **box.label_studio_environment,
            "AGREEMENT_OPERATOR_NAMESPACES": f"{cluster.namespace},{other}",
            "AGREEMENT_OPERATOR_RESYNC_SECONDS": str(RESYNC_SECONDS),
            "AGREEMENT_OPERATOR_FUNCTION_ERRORS_SECONDS": "1",
            "AGREEMENT_OPERATOR_LABEL_STUDIO_NAMESPACES": cluster.namespace,
            "AGREEMENT_OPERATOR_ADOPT_NAMESPACES": cluster.namespace,
            "AGREEMENT_OPERATOR_LABEL_STUDIO_CONNECTIONS": json.dumps(connections),
        }, log_name=f"operator-{cluster.namespace}.log")
        yield studio, staging, other


def requests(studio, project: int) -> Counter:
    return Counter(studio.project_requests.get(project, {}))


def test_a_project_claimed_elsewhere_is_never_overwritten_and_costs_no_request_per_resync(cluster, setting):
    studio, _, _ = setting
    shared = studio.add_project("shared")
    cluster.apply("first", {"code": CODE, "labelStudio": {"project": shared}})
    cluster.wait("first")
    cluster.apply("second", {"code": MATCH, "labelStudio": {"project": shared}})
    stalled = cluster.wait("second", condition="Stalled")
    assert cluster.condition(stalled, "Stalled")["reason"] == "ProjectOwnedElsewhere"
    assert f"AgreementMetric {cluster.namespace}/first" in cluster.condition(stalled, "Stalled")["message"]
    time.sleep(3 * RESYNC_SECONDS)
    first = cluster.get("first")
    assert cluster.condition(first, "Ready")["status"] == "True"
    assert marker.unmarked(studio.function(shared).code) == CODE  # the project keeps the first's code

    # A project whose code another cluster's metric posted: the metric's whole cost is its first read.
    elsewhere = studio.add_project("another cluster's")
    studio.write_by_hand(elsewhere, marker.marked(MATCH, Owner("prod-eu", cluster.namespace, "x", "u")))
    cluster.apply("third", {"code": CODE, "labelStudio": {"project": elsewhere}})
    cluster.wait("third", condition="Stalled")
    after_first_pass = requests(studio, elsewhere)
    time.sleep(3 * RESYNC_SECONDS)  # three resyncs
    per_resync = {key: count - after_first_pass[key] for key, count in requests(studio, elsewhere).items()
                  if count != after_first_pass[key]}
    print(f"\nclaimed elsewhere: {dict(after_first_pass)} on the metric's pass, {per_resync} over three resyncs")
    assert after_first_pass == Counter({"GET function": 1}) and per_resync == {}


def test_hand_written_code_is_adopted_only_when_asked_and_its_digest_is_kept(cluster, setting):
    studio, _, _ = setting
    project = studio.add_project("typed in the UI")
    studio.write_by_hand(project, MATCH)
    cluster.apply("adopter", {"code": CODE, "labelStudio": {"project": project}})
    refused = cluster.wait("adopter", condition="Stalled")
    assert cluster.condition(refused, "Stalled")["reason"] == "FunctionNotManaged"
    assert studio.function(project).code == MATCH
    cluster.apply("adopter", {"code": CODE, "labelStudio": {"project": project}},
                  annotations={"agreement.dev/adopt": "true"})
    item = cluster.wait("adopter")
    assert item["status"]["labelStudio"]["adoptedCodeSha256"]
    assert "Adopted" in [event["reason"] for event in cluster.events("adopter")]
    assert marker.owner_of(studio.function(project).code).name == "adopter"


def test_a_namespace_the_connection_does_not_serve_makes_no_request(cluster, setting):
    studio, _, other = setting
    project = studio.add_project("not for them")
    cluster.apply("outsider", {"code": CODE, "labelStudio": {"project": project}}, namespace=other)
    item = cluster.wait("outsider", condition="Stalled", namespace=other)
    assert cluster.condition(item, "Stalled")["reason"] == "LabelStudioNamespaceNotAllowed"
    assert project not in studio.project_requests


def test_a_second_connection_deploys_to_its_own_label_studio(cluster, setting):
    studio, staging, _ = setting
    project = staging.add_project("staging")
    cluster.apply("staged", {"code": CODE, "labelStudio": {"project": project, "connection": "staging"}})
    cluster.wait("staged")
    assert marker.unmarked(staging.function(project).code) == CODE
    assert project not in studio.project_requests or studio.project_requests[project].get("POST function", 0) == 0
    table = cluster.kubectl("get", "am", "staged", "-n", cluster.namespace, "-o", "wide").stdout.splitlines()
    assert table[0].split()[-1] == "CONNECTION" and table[1].split()[-1] == "staging"


def test_the_agreement_the_project_computes_reaches_the_status_and_a_column(cluster, setting):
    studio, _, _ = setting
    project = studio.add_project(f"scored {uuid.uuid4().hex[:4]}")
    studio.add_task(project, [choice("A"), choice("A")])
    studio.add_task(project, [choice("A"), choice("B")])
    studio.add_task(project, [choice("B"), choice("B"), choice("A")])
    cluster.apply("scored", {"code": MATCH, "labelStudio": {"project": project}})
    cluster.wait("scored")
    item = cluster.eventually(lambda: (lambda got: got if "agreement" in got["status"].get("labelStudio", {})
                                       else None)(cluster.get("scored")), 30, "the project's agreement")
    expected = (1.0 + 0.0 + 1 / 3) / 3  # the mean of the task agreements, by the deployed code
    assert item["status"]["labelStudio"]["agreement"] == pytest.approx(expected, abs=1e-6)
    header, row = cluster.kubectl("get", "am", "scored", "-n", cluster.namespace).stdout.splitlines()[:2]
    assert header.split()[3] == "AGREEMENT" and row.split()[2].startswith("0.444")  # FUNCTION is empty
