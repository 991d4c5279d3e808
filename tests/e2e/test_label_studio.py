"""Metrics deployed through a Label Studio project, through the real apiserver, against the local
Label Studio API server over HTTP (the session's operator authenticates with a personal access token)."""

import os
import subprocess
import sys
import time
from collections import Counter
from contextlib import ExitStack

import pytest

from agreement_operator.label_studio_target.marker import unmarked
from agreement_operator.sandbox import operator_process

CODE = "def agreement(annotation_1, annotation_2, per_label=False):\n    return 1.0\n"


@pytest.fixture
def studio(box):
    server = box.label_studio
    server.activation_seconds = 1.0
    return server


def target(project, code=CODE, **extra):
    return {"code": code, "labelStudio": {"project": project, **extra.pop("label_studio", {})}, **extra}


def condition_reason(cluster, name, kind):
    return lambda: cluster.condition(cluster.get(name), kind).get("status") == "True" and \
        cluster.condition(cluster.get(name), kind)["reason"]


@pytest.fixture
def own_operator(box, cluster, operator):
    """Operators of this test's own for its namespace (the session's is paused), each with the
    environment the test gives it; start() returns the process, which the test may stop."""
    with operator.paused(), ExitStack() as stack:
        def start(environment: dict, log_name: str = f"operator-{cluster.namespace}.log"):
            return operator_process.start(box.workdir, stack, box.control_plane, box.aws, {
                "AGREEMENT_OPERATOR_NAMESPACES": cluster.namespace, "AGREEMENT_OPERATOR_RESYNC_SECONDS": "3",
                **environment}, log_name=log_name)
        yield start


def resumed(process, name: str) -> bool:
    return f"/{name}] Handler 'resume_metric' succeeded" in process.log_tail(200_000)


def test_new_unchanged_after_restart_and_changed_metric_requests(box, cluster, studio, own_operator, capsys):
    """The requests each situation costs, counted by the server (and printed for the docs)."""
    project = studio.add_project("e2e lifecycle")
    # No resync and no look at the function's logs within the windows counted.
    quiet = {"AGREEMENT_OPERATOR_RESYNC_SECONDS": "600", "AGREEMENT_OPERATOR_FUNCTION_ERRORS_SECONDS": "0",
             **box.label_studio_environment}
    first = own_operator(quiet, "operator-first.log")
    cluster.apply("scored", target(project, label_studio={"metricName": "custom"}))
    item = cluster.wait("scored", timeout=60)
    function = studio.function(project)
    assert (unmarked(function.code), function.status, function.metric_name) == (CODE, "Active", "custom")
    assert item["status"]["labelStudio"] == {"project": project, "functionStatus": "Active", "metricName": "custom",
                                             "codeSha256": item["status"]["labelStudio"]["codeSha256"]}
    assert {"CodeDeployed", "MetricSelected"} <= {event["reason"] for event in cluster.events("scored")}
    printed = cluster.kubectl("get", "am", "scored", "-n", cluster.namespace).stdout
    assert "PROJECT" in printed and f" {project} " in printed
    time.sleep(2)  # anything a last pass would still send
    new = Counter(studio.project_requests[project])
    assert (new["POST check-function"], new["POST function"], new["POST metricparam"]) == (1, 1, 1)
    # One pass found the function Active and made it Ready; no change of the spec means no other pass.
    assert new["GET metricparam"] == 1
    first.stop()

    restarted = own_operator(quiet, "operator-restarted.log")
    cluster.eventually(lambda: resumed(restarted, "scored"), 30, "the resume handler")
    time.sleep(2)
    after_restart = Counter(studio.project_requests[project]) - new
    assert sum(after_restart.values()) == 0  # status matches the spec: nothing to ask Label Studio
    restarted.stop()

    resyncing = own_operator({**box.label_studio_environment, "AGREEMENT_OPERATOR_RESYNC_SECONDS": "2",
                              "AGREEMENT_OPERATOR_FUNCTION_ERRORS_SECONDS": "600"}, "operator-resyncing.log")
    before_resync = Counter(studio.project_requests[project])
    cluster.eventually(lambda: studio.project_requests[project]["GET function"] > before_resync["GET function"],
                       30, "a resync")
    time.sleep(0.5)  # the rest of the pass
    resync = Counter(studio.project_requests[project]) - before_resync
    assert resync["POST function"] == resync["POST check-function"] == resync["POST metricparam"] == 0
    assert resync["GET function"] == 1 and resync["GET function-logs"] == 0
    resyncing.stop()
    changer = own_operator(quiet, "operator-change.log")
    cluster.eventually(lambda: resumed(changer, "scored"), 30, "the resume handler")
    before_change = Counter(studio.project_requests[project])
    cluster.apply("scored", target(project, CODE.replace("1.0", "0.5"), label_studio={"metricName": "custom"}))
    cluster.wait_observed("scored", 2)
    cluster.eventually(lambda: unmarked(studio.function(project).code) == CODE.replace("1.0", "0.5") and
                       cluster.condition(cluster.get("scored"), "Ready").get("status") == "True", 60, "the change")
    time.sleep(2)
    change = Counter(studio.project_requests[project]) - before_change
    assert (change["POST check-function"], change["POST function"], change["POST metricparam"]) == (1, 1, 0)
    assert change["GET metricparam"] == 1
    with capsys.disabled():
        print(f"\nLabel Studio requests: new metric {dict(new)}; after a restart {dict(after_restart)}; "
              f"one resync {dict(resync)}; code change {dict(change)} (and a GET custom-function-logs per "
              "look at the function's errors: test_function_errors_reach_the_status_and_a_warning)")


def looks_again_at_most_once_a_resync(requests: Counter, before: Counter, seconds: float, resync: float) -> None:
    """A metric Stalled by something outside the resource is looked at again by itself (a project restored,
    a key fixed), one read per look and never more often than the resync interval: no retry loop."""
    looks = requests - before
    assert 1 <= looks["GET function"] <= seconds / resync + 1, looks
    assert set(looks) <= {"GET function", "GET project"} and looks["GET project"] <= looks["GET function"], looks


def test_an_unknown_project_is_stalled_and_looked_at_again_at_the_resync_pace(cluster, studio, resync_seconds):
    cluster.apply("nowhere", target(999_999))
    item = cluster.wait("nowhere", "Stalled")
    stalled = cluster.condition(item, "Stalled")
    assert stalled["reason"] == "ProjectNotFound" and "no project 999999" in stalled["message"]
    before = studio.project_requests[999_999].copy()
    time.sleep(7)
    looks_again_at_most_once_a_resync(studio.project_requests[999_999], before, 7, resync_seconds)
    assert cluster.condition(cluster.get("nowhere"), "Stalled")["reason"] == "ProjectNotFound"


def test_a_500_is_reconciling_with_label_studios_message_then_ready(cluster, studio):
    project = studio.add_project()
    studio.fail_next("POST function", 500, {"detail": "Error updating function: Lambda quota reached"}, times=2)
    cluster.apply("flaky", target(project))
    reason = cluster.eventually(condition_reason(cluster, "flaky", "Reconciling"), 30, "Reconciling")
    assert reason == "LabelStudioUnavailable"
    assert "Lambda quota reached" in cluster.condition(cluster.get("flaky"), "Reconciling")["message"]
    cluster.wait("flaky", timeout=60)
    assert studio.project_requests[project]["POST function"] == 3  # two refused, with a backoff between
    warnings = [event for event in cluster.events("flaky") if event["reason"] == "LabelStudioUnavailable"]
    assert warnings and warnings[0]["type"] == "Warning"


def test_label_studio_down_then_back(cluster, studio):
    project = studio.add_project()
    studio.stop()
    try:
        cluster.apply("patient", target(project))
        reason = cluster.eventually(condition_reason(cluster, "patient", "Reconciling"), 30, "Reconciling")
        assert reason == "LabelStudioUnavailable"
        assert "cannot reach Label Studio" in cluster.condition(cluster.get("patient"), "Reconciling")["message"]
    finally:
        studio.start()
    cluster.wait("patient", timeout=90)
    assert unmarked(studio.function(project).code) == CODE


def test_code_label_studio_refuses_or_that_fails_to_activate_is_stalled(cluster, studio):
    refused, failing = studio.add_project(), studio.add_project()
    studio.fail_next("POST check-function", 400, {"detail": "Validation error",
                                                   "validation_errors": {"code": ["os is not allowed"]}})
    cluster.apply("refused", target(refused))
    stalled = cluster.condition(cluster.wait("refused", "Stalled"), "Stalled")
    assert stalled["reason"] == "CodeRejected" and "os is not allowed" in stalled["message"]
    assert studio.function(refused).code == ""
    studio.fail_activation(failing, "[ERROR] ModuleNotFoundError: No module named 'numpy'")
    cluster.apply("failing", target(failing))
    stalled = cluster.condition(cluster.wait("failing", "Stalled"), "Stalled")
    assert stalled["reason"] == "FunctionFailed"
    assert "Failed: the metric raised ModuleNotFoundError: No module named 'numpy'" in stalled["message"]


def test_function_errors_reach_the_status_and_a_warning(cluster, studio):
    project = studio.add_project()
    cluster.apply("fragile", target(project, tests=[
        {"name": "same", "annotation1": {"result": []}, "annotation2": {"result": []}, "expect": 1.0}]))
    item = cluster.wait("fragile")
    assert item["status"]["tests"]["summary"] == "not run" and "locally" in item["status"]["tests"]["message"]
    studio.add_log(project, "[ERROR] KeyError: 'choices'\nTraceback (most recent call last):\n"
                            '  File "/var/task/metric.py", line 3, in agreement')
    errors = cluster.eventually(lambda: cluster.get("fragile")["status"].get("functionErrors", {}).get("count"),
                                30, "functionErrors")
    assert errors == 1
    recent = cluster.get("fragile")["status"]["functionErrors"]["recent"]
    assert recent[-1]["type"] == "KeyError" and recent[-1]["line"] == 3
    assert cluster.condition(cluster.get("fragile"), "Ready")["status"] == "True"
    warning = [event for event in cluster.events("fragile") if event["reason"] == "FunctionErrors"]
    assert len(warning) == 1 and warning[0]["type"] == "Warning" and "KeyError" in warning[0]["message"]
    logs = subprocess.run([sys.executable, "-m", "agreement_operator", "logs", "fragile", "-n", cluster.namespace,
                           "--errors"], capture_output=True, text=True, timeout=60, check=False,
                          env={**os.environ, **cluster.box.command_environment()})
    assert logs.returncode == 0, logs.stderr
    assert logs.stdout.strip().endswith("KeyError: 'choices' (metric.py, line 3)")


def test_delete_leaves_the_project_its_code_and_says_so(cluster, studio):
    project = studio.add_project()
    cluster.apply("leaving", target(project))
    cluster.wait("leaving")
    cluster.kubectl("delete", "am", "leaving", "-n", cluster.namespace, "--timeout=60s")
    assert unmarked(studio.function(project).code) == CODE
    kept = [event for event in cluster.events("leaving") if event["reason"] == "CodeKeptInProject"]
    assert kept and f"project {project} keeps the last code" in kept[0]["message"]


def test_a_wrong_token_is_stalled_naming_the_credential_and_never_logged(box, cluster, studio, own_operator):
    project = studio.add_project()
    wrong = "f" * 40
    own_operator({"LABEL_STUDIO_URL": studio.url, "LABEL_STUDIO_API_KEY": wrong})
    cluster.apply("locked-out", target(project))
    stalled = cluster.condition(cluster.wait("locked-out", "Stalled"), "Stalled")
    assert stalled["reason"] == "LabelStudioUnauthorized" and "legacy token" in stalled["message"]
    calls = studio.project_requests[project].copy()
    time.sleep(7)
    looks_again_at_most_once_a_resync(studio.project_requests[project], calls, 7, 3)
    log = (box.workdir / f"operator-{cluster.namespace}.log").read_text()
    assert wrong not in log and wrong not in str(cluster.get("locked-out"))


def test_an_expiring_access_token_is_refreshed(box, cluster, studio, own_operator):
    project = studio.add_project()
    studio.access_seconds = 2
    try:
        own_operator({"LABEL_STUDIO_URL": studio.url, "LABEL_STUDIO_API_KEY": studio.personal_access_token})
        refreshes = studio.requests["POST refresh"]
        cluster.apply("renewed", target(project))
        cluster.wait("renewed")
        time.sleep(5)  # the access token expires twice over; resyncs keep calling
        cluster.apply("renewed", target(project, CODE + "# v2\n"))
        cluster.eventually(lambda: unmarked(studio.function(project).code) == CODE + "# v2\n", 30, "the new code")
        cluster.wait("renewed")
    finally:
        studio.access_seconds = 300
    assert studio.requests["POST refresh"] - refreshes >= 2
    assert "LabelStudioUnauthorized" not in str(cluster.get("renewed")["status"])
    log = (box.workdir / f"operator-{cluster.namespace}.log").read_text()
    assert studio.personal_access_token not in log
