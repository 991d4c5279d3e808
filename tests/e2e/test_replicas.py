"""What the chart runs for replicaCount >= 2: the same operator twice, kopf peering between them, and
exactly one of them at work, its periodic checks included."""

import json
import time
from contextlib import ExitStack
from pathlib import Path

import pytest

from agreement_operator.sandbox import operator_process
from agreement_operator.sandbox.processes import http_get
from agreement_operator.sandbox.session import sandbox

PEERING_CRD = Path(__file__).parents[2] / "crds" / "kopf-peering.yaml"
CODE = "def agreement(annotation_1, annotation_2, per_label=False):\n    return 1.0\n"


@pytest.fixture(scope="module")
def plane(control_plane_binaries):
    """A control plane of its own: the session's operator must not answer for this one."""
    with sandbox(with_operator=False, binaries=control_plane_binaries) as box:
        box.control_plane.kubectl("apply", "-f", str(PEERING_CRD))
        yield box


def test_two_peered_replicas_elect_exactly_one_active(plane, tmp_path):
    """What the chart runs for replicaCount >= 2: the same arguments twice, and kopf peering."""
    kubectl = plane.control_plane.kubectl
    kubectl("apply", "-f", "-", input=json.dumps({"apiVersion": "kopf.dev/v1", "kind": "ClusterKopfPeering",
                                                  "metadata": {"name": "replicas"}}))
    kubectl("create", "namespace", "peered")
    with ExitStack() as stack:
        replicas = [operator_process.start(tmp_path, stack, plane.control_plane, plane.aws, None,
                                           f"replica-{n}.log", peering="replicas") for n in (1, 2)]
        # Both in the peering, one active, the other's metric watch paused: a metric applied while the
        # second is still starting would be a hand-over, with both at work for a moment.
        _wait_for(lambda: len(_peers(kubectl, "replicas")) == 2 and _one_active_the_other_paused(
                  [replica.log_tail(200000) for replica in replicas]),
                  "the replicas did not settle on one active operator")
        kubectl("apply", "-f", "-", input=json.dumps({
            "apiVersion": "agreement.dev/v1alpha1", "kind": "AgreementMetric",
            "metadata": {"name": "peered", "namespace": "peered"}, "spec": {"code": CODE}}))
        kubectl("wait", "--for=condition=Ready", "-n", "peered", "am/peered", "--timeout=90s")
        peers = _peers(kubectl, "replicas")
        logs = [replica.log_tail(200000) for replica in replicas]
        kubectl("delete", "am", "peered", "-n", "peered", "--timeout=60s")
    priorities = [peer["priority"] for peer in peers.values()]
    assert len(priorities) == 2 and len(set(priorities)) == 2, peers
    active = [_active(log) for log in logs]
    assert sorted(active) == [False, True]
    deployed = [log.count("Deployed: function custom-metric-peered-peered") for log in logs]
    assert deployed == [1 if is_active else 0 for is_active in active]


def test_a_replica_paused_for_another_stops_its_periodic_work(plane, tmp_path):
    """The periodic checks run outside kopf's handlers: a replica that was active, then paused for a peer
    of a higher priority (a rolling update, say), must stop them as kopf stops its handlers."""
    kubectl, lam = plane.control_plane.kubectl, plane.aws.client("lambda")
    kubectl("apply", "-f", "-", input=json.dumps({"apiVersion": "kopf.dev/v1", "kind": "ClusterKopfPeering",
                                                  "metadata": {"name": "handover"}}))
    kubectl("create", "namespace", "handover")
    quick = {"AGREEMENT_OPERATOR_RESYNC_SECONDS": "2", "AGREEMENT_OPERATOR_FUNCTION_ERRORS_SECONDS": "0"}
    function = "custom-metric-handover-drifting"
    with ExitStack() as stack:
        first = operator_process.start(tmp_path, stack, plane.control_plane, plane.aws, quick, "first.log",
                                       peering="handover", priority=100)
        _wait_for(lambda: _active(first.log_tail(200000)), "the first replica never became active")
        kubectl("apply", "-f", "-", input=json.dumps({
            "apiVersion": "agreement.dev/v1alpha1", "kind": "AgreementMetric",
            "metadata": {"name": "drifting", "namespace": "handover"}, "spec": {"code": CODE, "memoryMB": 256}}))
        kubectl("wait", "--for=condition=Ready", "-n", "handover", "am/drifting", "--timeout=90s")
        _wait_for(lambda: _periodic_looks(first) > 0, "the first replica never looked at its Ready metric")
        second = operator_process.start(tmp_path, stack, plane.control_plane, plane.aws, quick, "second.log",
                                        peering="handover", priority=200)
        _wait_for(lambda: _active(second.log_tail(200000)) and not _active(first.log_tail(200000)),
                  "the replicas did not hand over")
        time.sleep(2)  # the first one's last tick, if one was under way
        paused_looks = _periodic_looks(first)
        lam.update_function_configuration(FunctionName=function, MemorySize=1024)  # drift, made in AWS
        _wait_for(lambda: lam.get_function(FunctionName=function)["Configuration"]["MemorySize"] == 256,
                  "the drift was not repaired")
        time.sleep(3)  # a tick or two more of the paused replica, were it still looking
        looks = (_periodic_looks(first), _periodic_looks(second))
        events = json.loads(kubectl("get", "events", "-n", "handover", "-o", "json").stdout)["items"]
        kubectl("delete", "am", "drifting", "-n", "handover", "--timeout=60s")
    assert looks[0] == paused_looks and looks[1] > 0, looks
    # The repair's Event, posted by the operator itself (its periodic work runs outside kopf's handlers).
    [repaired] = [event for event in events if event["reason"] == "ConfigurationUpdated"]
    assert repaired["involvedObject"]["name"] == "drifting" and repaired["type"] == "Normal"
    assert repaired["source"]["component"] == "agreement-operator" and "MemorySize" in repaired["message"]


def _periodic_looks(operator) -> float:
    exported = http_get(operator.metrics_url) or ""
    values = [float(line.split()[-1]) for line in exported.splitlines()
              if line.startswith("agreement_operator_periodic_looks_total ")]
    return values[0] if values else 0.0


def _wait_for(condition, failure: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, failure
        time.sleep(0.5)


def _peers(kubectl, name: str) -> dict:
    return json.loads(kubectl("get", "clusterkopfpeering", name, "-o", "json").stdout).get("status") or {}


def _watch_paused(log: str) -> bool:
    """kopf pauses a replica's watch of the metrics some time after it decides to pause."""
    return log.rfind("Pausing the watch-stream for agreementmetrics") > log.rfind("Pausing operations")


def _one_active_the_other_paused(logs: list[str]) -> bool:
    active = [_active(log) for log in logs]
    settled = [is_active or _watch_paused(log) for is_active, log in zip(active, logs, strict=True)]
    return sum(active) == 1 and all(settled)


def _active(log: str) -> bool:
    """Peered operators start paused; the one of highest priority resumes, the others pause."""
    return log.rfind("Resuming operations after the pause") > log.rfind("Pausing operations")
