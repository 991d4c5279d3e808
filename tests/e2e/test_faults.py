"""Faults that end leave nothing behind: the session's operator through faults injected into the sandbox's
Label Studio API server and Lambda proxy, each scenario asserting what it costs (calls, Event objects, status
writes) and that the operator recovers without a person touching the metric."""

import time

from agreement_operator.sandbox.processes import eventually

GOOD = "def agreement(annotation_1, annotation_2, per_label=False):\n    return 1.0\n"
BROKEN = "def agreement(annotation_1, annotation_2, per_label=False):\n    return [\n"


def test_a_change_while_label_studio_hangs_is_judged_at_once_and_no_older_status_wins(cluster):
    """Label Studio hangs while a periodic check of a project metric waits on it, and someone applies invalid
    code. The change is Stalled while Label Studio still hangs (it waited 12 s for the check's lock), and when
    the check comes back its status, read before the change, does not overwrite the Stall (it once did:
    Reconciling LabelStudioUnavailable, for the old generation, for good)."""
    studio = cluster.box.label_studio
    project = studio.add_project("hung")
    cluster.apply("hung", {"code": GOOD, "labelStudio": {"project": project}})
    cluster.wait("hung")
    studio.hang(25)
    eventually(lambda: studio.hanging > 0, 40, "a periodic check to wait on Label Studio")
    cluster.apply("hung", {"code": BROKEN, "labelStudio": {"project": project}})
    stalled = cluster.wait("hung", "Stalled", timeout=60)
    assert time.monotonic() < studio.hang_until, "the Stall waited for Label Studio"
    assert cluster.condition(stalled, "Stalled")["reason"] == "InvalidCode"
    eventually(lambda: studio.hanging == 0, 60, "Label Studio to answer again")
    time.sleep(5)  # the periodic check that waited has written (or not) by now
    final = cluster.get("hung")
    stall = cluster.condition(final, "Stalled")
    assert (stall.get("status"), stall.get("reason"), stall.get("observedGeneration")) == ("True", "InvalidCode", 2)
    assert final["status"]["observedGeneration"] == 2
