"""The periodic work: one loop over kopf's index of metrics, and what one look at a metric writes and posts."""

import asyncio
import logging
import time

import kopf
import pytest

from agreement_operator import lambda_target
from agreement_operator.controller import conditions, error_watch, handlers, periodic
from agreement_operator.controller.episodes import Episodes
from agreement_operator.controller.periodic import PeriodicWork, Summary
from agreement_operator.controller.schedule import Backoff, Schedule
from agreement_operator.lambda_target.budget import Budget

NAME = "custom-metric-labeling-sentiment"


def loop_over(summaries: dict, due=lambda uid, summary: True, active=lambda: True):
    worked: list[str] = []
    work = PeriodicWork(summaries, due=due, work=lambda uid, summary: worked.append(uid), active=active, threads=2)
    return work, worked


def settled(name: str, ready: bool = True, changed_ago: float = 60.0) -> list[Summary]:
    return [Summary("labeling", name, ready, time.monotonic() - changed_ago)]


def test_a_tick_looks_at_the_metrics_whose_checks_are_due():
    work, worked = loop_over({"due": settled("due"), "not-due": settled("not-due")},
                             due=lambda uid, summary: summary.name == "due")
    assert asyncio.run(work.tick()) == 1
    assert worked == ["due"]


def test_checks_are_due_for_ready_metrics_left_alone_and_for_a_repair_of_the_loops_own(config):
    memo = kopf.Memo(config=config, resync=Schedule(600, spread_first=False), periodic_attempts={},
                     error_watch=error_watch.ErrorWatch(0), usage_looks=Schedule(300))
    assert handlers.periodic_work_due(memo, "ready", settled("ready")[0])
    assert not handlers.periodic_work_due(memo, "failing", settled("failing", ready=False)[0])
    assert not handlers.periodic_work_due(memo, "just-changed", settled("just-changed", changed_ago=1.0)[0])
    memo.resync.done("ready")
    assert not handlers.periodic_work_due(memo, "ready", settled("ready")[0])  # next due an interval away
    # A drift repair of the loop's own (Lambda applying it, say) comes back at its time, Ready or not, changed
    # a moment ago or not: no change handler will.
    memo.periodic_attempts["repairing"] = 1
    memo.resync.again_in("repairing", 0)
    assert handlers.periodic_work_due(memo, "repairing", settled("repairing", ready=False, changed_ago=0.5)[0])


def test_a_replica_that_is_not_active_looks_at_nothing():
    asked: list[bool] = []
    work, worked = loop_over({"ready": settled("ready")}, active=lambda: bool(asked.append(True)))
    assert asyncio.run(work.tick()) == 0
    assert (worked, asked) == ([], [True])


def test_nothing_due_asks_nobody_whether_this_replica_is_active():
    work, _ = loop_over({"ready": settled("ready")}, due=lambda uid, summary: False,
                        active=lambda: pytest.fail("the peering object was read with nothing to do"))
    assert asyncio.run(work.tick()) == 0


def test_a_bug_in_one_metrics_checks_leaves_the_others_looked_after(caplog):
    worked: list[str] = []

    def work_on(uid, summary):
        if uid == "broken":
            raise KeyError("Configuration")
        worked.append(uid)

    work = PeriodicWork({"broken": settled("broken"), "fine": settled("fine")}, due=lambda uid, summary: True,
                        work=work_on, active=lambda: True, threads=2)
    with caplog.at_level(logging.ERROR, logger=periodic.__name__):
        assert asyncio.run(work.tick()) == 2
    assert worked == ["fine"]
    assert "[labeling/broken] the periodic checks failed" in caplog.text and "KeyError" in caplog.text


@pytest.fixture
def written() -> list:
    return []


@pytest.fixture
def posted() -> list:
    return []


def memo_for(functions, config, found: dict, written: list, posted: list) -> kopf.Memo:
    """What look_after_metric uses: the apiserver's copy of each metric in `found`, keyed by name."""
    return kopf.Memo(
        config=config, targets={"lambda": lambda_target.LambdaTarget.single(functions, config)}, locks={},
        episodes=Episodes(), stall_looks=Backoff(10, 600), resync=Schedule(config.resync_seconds, spread_first=False),
        error_watch=error_watch.ErrorWatch(0), usage_looks=Schedule(300), periodic_attempts={},
        read_configmap=lambda namespace, name: None, read_metric=lambda namespace, name: found.get(name),
        write_status=lambda namespace, name, patch, **_: written.append(patch),
        mark_revision=lambda namespace, metric, annotation, revision: None,
        post_event=lambda body, event: pytest.fail("kopf's posting is not there outside its handlers"),
        post_event_outside_kopf=lambda body, event: posted.append(event),
    )


def body(spec: dict, status: dict | None = None, uid: str = "uid-1") -> dict:
    return {"apiVersion": "agreement.dev/v1alpha1", "kind": "AgreementMetric",
            "metadata": {"name": "sentiment", "namespace": "labeling", "uid": uid, "generation": 1},
            "spec": spec, "status": status or {}}


def deployed(memo: kopf.Memo, spec: dict) -> dict:
    patch = kopf.Patch()
    found = kopf.Body(body(spec))
    in_kopf = kopf.Memo({**memo, "post_event": lambda body, event: None})
    handlers.reconcile_metric(body=found, spec=found.spec, meta=found.meta, status=found.status, patch=patch,
                              memo=in_kopf, logger=logging.getLogger("test"))
    return dict(patch["status"])


SUMMARY = Summary("labeling", "sentiment", True, 0.0)


def test_a_look_repairs_drift_writes_status_and_posts_through_the_operator(functions, config, written, posted,
                                                                           good_metric):
    found: dict = {}
    memo = memo_for(functions, config, found, written, posted)
    spec = {"code": good_metric, "memoryMB": 256}
    found["sentiment"] = body(spec, deployed(memo, spec))
    functions.client.update_function_configuration(FunctionName=NAME, MemorySize=1024)  # someone changed it
    handlers.look_after_metric(memo, "uid-1", SUMMARY)
    assert functions.read(NAME).configuration["MemorySize"] == 256
    assert [event.reason for event in posted] == ["ConfigurationUpdated"]
    assert not memo.resync.due("uid-1")  # next due an interval from now


def test_a_metric_deleted_or_made_again_since_the_index_saw_it_is_left_alone(functions, config, written, posted,
                                                                              good_metric):
    found: dict = {}
    memo = memo_for(functions, config, found, written, posted)
    handlers.look_after_metric(memo, "uid-1", SUMMARY)
    found["sentiment"] = body({"code": good_metric}, uid="uid-2")
    handlers.look_after_metric(memo, "uid-1", SUMMARY)
    assert (written, posted) == ([], [])


def test_a_look_waiting_for_the_quota_comes_back_at_its_turn_and_the_metric_stays_ready(
        functions, config, written, posted, good_metric):
    found: dict = {}
    memo = memo_for(functions, config, found, written, posted)
    spec = {"code": good_metric}
    ready = deployed(memo, spec)
    found["sentiment"] = body(spec, ready)
    written.clear()  # the names, written before the create
    functions.reads = Budget("reads", rate=10, burst=1)
    for n in range(1000):  # 100 s of reads queued ahead
        functions.reads.take(f"bulk-{n}")
    handlers.look_after_metric(memo, "uid-1", SUMMARY)
    assert memo.periodic_attempts == {"uid-1": 1}
    assert 90 < memo.resync._due["uid-1"] - time.monotonic() <= 101
    # A drift check that waits for its turn says nothing: the metric is still deployed as specified, and
    # Ready stays, so that the loop comes back to it (it looks only at Ready metrics).
    assert (written, posted) == ([], [])


def test_a_drift_repair_lambda_is_still_applying_is_followed_until_ready(functions, config, written, posted,
                                                                         good_metric, still_applying):
    """Regression: the resync's repair said Reconciling, and its next look skipped the metric (not Ready),
    so that it stayed Reconciling until someone changed it."""
    found: dict = {}
    spec = {"code": good_metric, "memoryMB": 256}
    updating = still_applying(functions, "update_configuration", last_update_status="InProgress")
    memo = memo_for(updating, config, found, written, posted)
    found["sentiment"] = body(spec, deployed(memo, spec))
    written.clear()
    functions.client.update_function_configuration(FunctionName=NAME, MemorySize=1024)
    handlers.look_after_metric(memo, "uid-1", SUMMARY)
    [reconciling] = written
    assert not conditions.is_true(reconciling, "Ready", 1)
    assert memo.periodic_attempts == {"uid-1": 1}
    found["sentiment"] = body(spec, {**found["sentiment"]["status"], **reconciling})
    memo.resync.again_in("uid-1", 0)  # its time has come
    assert handlers.periodic_work_due(memo, "uid-1", SUMMARY._replace(ready=False, changed=time.monotonic()))
    handlers.look_after_metric(memo, "uid-1", SUMMARY._replace(ready=False))
    assert conditions.is_true(written[-1], "Ready", 1)
    assert memo.periodic_attempts == {}
