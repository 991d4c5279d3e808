"""The admission: passes beyond kopf's threads wait as keys in the operator's queue, a person's change never waits,
and a queued pass runs outside kopf on the metric as the apiserver has it, its status written at its generation."""

import asyncio
import concurrent.futures
import copy
import logging

import kopf
import pytest

from agreement_operator import failures, lambda_target
from agreement_operator.controller import admitted_handlers, conditions, handlers, log_setup, outside_kopf
from agreement_operator.controller.admission import Admission, Queued
from agreement_operator.controller.peering import ActiveReplica
from agreement_operator.controller.periodic import Summary
from agreement_operator.controller.schedule import Schedule

NAME = "custom-metric-labeling-sentiment"


def queued(uid: str, attempt: int = 0) -> Queued:
    return Queued(uid, "labeling", uid, resumed=False, attempt=attempt)


async def drained(admission: Admission, until) -> None:
    """The admission's loop, run until `until()` holds."""
    loop = asyncio.create_task(admission.run())
    try:
        for _ in range(500):
            if until():
                return
            await asyncio.sleep(0.01)
        pytest.fail("the queue did not drain")
    finally:
        loop.cancel()


def test_passes_beyond_the_slots_wait_in_the_queue_and_run_in_their_order():
    ran: list[str] = []

    async def run(item: Queued) -> None:
        ran.append(item.uid)
        await asyncio.sleep(0.01)

    async def scenario() -> None:
        admission = Admission(2, run)
        assert admission.enter(urgent=False) and admission.enter(urgent=False)
        assert not admission.enter(urgent=False)  # both slots taken: a new metric waits as a key
        for uid in ("first", "second", "third"):
            admission.queue(queued(uid))
        assert admission.waiting() == 3
        assert admission.enter(urgent=True)  # a person's change runs whatever waits
        admission.leave(), admission.leave(), admission.leave()
        await drained(admission, lambda: len(ran) == 3 and admission.running == 0)
        assert admission.waiting() == 0 and admission.enter(urgent=False)  # drained: a new pass runs at once

    asyncio.run(scenario())
    assert ran == ["first", "second", "third"]


def test_a_new_pass_queues_behind_those_waiting_for_a_slot_not_behind_retries_waiting_for_their_time():
    async def scenario() -> None:
        admission = Admission(4, lambda item: asyncio.sleep(0))
        admission.queue(queued("retrying"), delay=60.0)
        assert admission.enter(urgent=False)  # a slot is free, and the only queued pass waits for its time
        admission.leave()
        admission.queue(queued("waiting"))
        assert not admission.enter(urgent=False)  # one waits for its slot now: the new pass goes behind it

    asyncio.run(scenario())


def test_a_pass_that_must_come_back_is_queued_again_at_its_time_with_its_attempt():
    attempts: list[int] = []

    async def run(item: Queued) -> float | None:
        attempts.append(item.attempt)
        return 0.05 if item.attempt < 2 else None

    async def scenario() -> None:
        admission = Admission(1, run)
        admission.queue(queued("settling"))
        await drained(admission, lambda: len(attempts) == 3 and admission.running == 0)
        assert admission.waiting() == 0

    asyncio.run(scenario())
    assert attempts == [0, 1, 2]


def test_a_forgotten_or_requeued_key_runs_once_as_last_queued():
    ran: list[Queued] = []

    async def run(item: Queued) -> None:
        ran.append(item)

    async def scenario() -> None:
        admission = Admission(1, run)
        admission.queue(queued("deleted"))
        admission.forget("deleted")  # its deletion, or a person's change kopf runs now
        admission.queue(queued("twice"))
        admission.queue(queued("twice", attempt=5))
        await drained(admission, lambda: len(ran) >= 1 and admission.running == 0)
        await asyncio.sleep(0.05)

    asyncio.run(scenario())
    assert ran == [queued("twice", attempt=5)]


@pytest.fixture
def apiserver():
    """The metric as an apiserver keeps it: status writes conditional on resourceVersion, which every write moves."""
    class Apiserver:
        def __init__(self) -> None:
            self.metric: dict | None = None
            self.writes: list[dict] = []

        def read(self, namespace: str, name: str) -> dict | None:
            return copy.deepcopy(self.metric)

        def touch(self) -> None:
            """Someone else writes the metric (kopf's annotations, say)."""
            assert self.metric is not None
            self.metric["metadata"]["resourceVersion"] = str(int(self.metric["metadata"]["resourceVersion"]) + 1)

        def write_status(self, namespace: str, name: str, fields: dict, resource_version: str | None = None) -> str:
            assert self.metric is not None
            if resource_version is not None and resource_version != self.metric["metadata"]["resourceVersion"]:
                raise failures.RetryableFailure("Conflict", "the object has been modified")
            self.writes.append(fields)
            self.metric["status"] = conditions.merge_patch({}, {**self.metric["status"], **fields})
            self.touch()
            return self.metric["metadata"]["resourceVersion"]
    return Apiserver()


@pytest.fixture
def queue_memo(memo, apiserver, posted):
    memo.read_metric = apiserver.read
    memo.write_status = apiserver.write_status
    memo.post_event_outside_kopf = lambda body, event: posted.append(event)
    memo.active_replica = ActiveReplica(None, lambda namespace, name: None)  # standalone
    memo.executor = concurrent.futures.ThreadPoolExecutor(1)
    return memo


def new_metric(good_metric: str) -> dict:
    return {"apiVersion": "agreement.dev/v1alpha1", "kind": "AgreementMetric",
            "metadata": {"name": "sentiment", "namespace": "labeling", "uid": "uid-1", "generation": 1,
                         "resourceVersion": "1"},
            "spec": {"code": good_metric}, "status": {}}


def kopf_kwargs(metric: dict, memo: kopf.Memo, reason: str) -> dict:
    body = kopf.Body(metric)
    return {"body": body, "spec": body.spec, "meta": body.meta, "status": body.status, "patch": kopf.Patch(),
            "memo": memo, "logger": logging.getLogger("test"), "reason": reason, "retry": 0}


def test_a_new_metric_with_every_thread_taken_waits_as_a_key_and_its_queued_pass_deploys_it(
        queue_memo, apiserver, functions, good_metric, posted):
    queue_memo.admission = Admission(0, lambda item: asyncio.sleep(0))  # every thread taken
    apiserver.metric = new_metric(good_metric)
    handler = admitted_handlers.admitted(handlers.status_written_by_the_operator(handlers.reconcile_metric))
    asyncio.run(handler(**kopf_kwargs(apiserver.metric, queue_memo, "create")))
    assert functions.read(NAME) is None and queue_memo.admission.waiting() == 1  # kopf's worker let it go

    # The function's name is recorded midway, and kopf writes its annotations before the pass's last write:
    # that write still lands, at the generation the pass worked on.
    write = apiserver.write_status

    def write_then_kopf(*args, **kwargs):
        written = write(*args, **kwargs)
        apiserver.touch()
        return written
    queue_memo.write_status = write_then_kopf
    assert admitted_handlers.queued_pass(queue_memo, Queued("uid-1", "labeling", "sentiment", False, 0)) is None
    assert functions.read(NAME) is not None
    assert conditions.is_true(apiserver.metric["status"], "Ready", 1)
    assert [event.reason for event in posted] == ["Created"]


def test_a_queued_pass_does_not_write_the_status_of_a_generation_it_did_not_see(
        queue_memo, apiserver, functions, good_metric):
    apiserver.metric = new_metric(good_metric)
    run = outside_kopf.start(queue_memo, "uid-1", "labeling", "sentiment")
    assert run is not None
    handlers.reconcile_metric(**outside_kopf.handler_kwargs(run, 0))
    apiserver.metric["metadata"]["generation"] = 2  # a person changed it meanwhile: kopf's update handler tells
    apiserver.touch()
    written = len(apiserver.writes)
    assert outside_kopf.finish(queue_memo, run) is None
    assert len(apiserver.writes) == written


def test_a_bulk_pass_that_must_come_back_waits_in_the_queue_and_a_persons_change_stays_with_kopf(queue_memo, caplog):
    queue_memo.admission = Admission(4, lambda item: asyncio.sleep(0))

    def settling(**_):
        log_setup.RETRY_LEVELS.note("uid-1", "Lambda is applying it", logging.INFO)  # pacing, not a failure
        raise kopf.TemporaryError("Lambda is applying it", delay=3.0)
    handler = admitted_handlers.admitted(settling)
    metric = {"metadata": {"name": "sentiment", "namespace": "labeling", "uid": "uid-1", "generation": 1}}
    with caplog.at_level(logging.INFO, logger=admitted_handlers.__name__):
        asyncio.run(handler(**kopf_kwargs(metric, queue_memo, "create")))  # returns: kopf keeps nothing of it
    assert queue_memo.admission.waiting() == 1 and queue_memo.admission.running == 0
    assert [(record.levelno, record.getMessage()) for record in caplog.records] == [
        (logging.INFO, "[labeling/sentiment] the pass comes back in 3.0 s: Lambda is applying it")]
    with pytest.raises(kopf.TemporaryError):  # kopf retries a person's change itself, at once when due
        asyncio.run(handler(**kopf_kwargs(metric, queue_memo, "update")))
    assert queue_memo.admission.waiting() == 0  # the person's change took the metric over


def test_a_deletion_retires_the_functions_a_queued_pass_recorded_after_kopfs_event(
        queue_memo, apiserver, functions, good_metric, client):
    """A queued pass ran when the metric was deleted: it moved the function to a new prefix, recording the name
    after the event kopf's deletion handler got. The deletion reads the metric again under the metric's lock."""
    apiserver.metric = new_metric(good_metric)
    apiserver.metric["spec"]["prefix"] = "vision"
    queue_memo.admission = Admission(16, lambda item: asyncio.sleep(0))
    assert admitted_handlers.queued_pass(queue_memo, Queued("uid-1", "labeling", "sentiment", False, 0)) is None
    as_kopf_saw_it = {**new_metric(good_metric), "status": {}}  # before the pass: no name recorded
    handlers.delete_metric(**kopf_kwargs(as_kopf_saw_it, queue_memo, "delete"))
    assert client.list_functions()["Functions"] == []


def test_a_queued_pass_leaves_a_metric_being_deleted_to_kopfs_deletion(queue_memo, apiserver, functions, good_metric):
    apiserver.metric = new_metric(good_metric)
    apiserver.metric["metadata"]["deletionTimestamp"] = "2026-12-07T00:00:00Z"
    assert admitted_handlers.queued_pass(queue_memo, Queued("uid-1", "labeling", "sentiment", False, 0)) is None
    assert functions.read(NAME) is None and apiserver.writes == []


def test_a_periodic_repair_writes_its_status_though_kopf_wrote_the_metric_after_the_look_read_it(
        queue_memo, apiserver, functions, good_metric, still_applying):
    """Regression: the look's status write was conditional on the resourceVersion it read, so that any write
    meanwhile (kopf's annotations, a label) dropped it: a repair Lambda was applying left the metric Ready."""
    apiserver.metric = new_metric(good_metric)
    apiserver.metric["spec"]["memoryMB"] = 256
    assert admitted_handlers.queued_pass(queue_memo, Queued("uid-1", "labeling", "sentiment", False, 0)) is None
    functions.client.update_function_configuration(FunctionName=NAME, MemorySize=1024)  # someone changed it
    queue_memo.targets = {"lambda": lambda_target.LambdaTarget.single(
        still_applying(functions, "update_configuration", last_update_status="InProgress"), queue_memo.config)}
    queue_memo.resync, queue_memo.periodic_attempts = Schedule(600, spread_first=False), {}
    read, reads = apiserver.read, []

    def read_then_kopf_writes(namespace: str, name: str) -> dict | None:
        found = read(namespace, name)
        if not reads:  # kopf's patch lands once, after the look's read
            apiserver.touch()
        reads.append(found)
        return found
    queue_memo.read_metric = read_then_kopf_writes
    handlers.look_after_metric(queue_memo, "uid-1", Summary("labeling", "sentiment", True, 0.0))
    assert conditions.find(apiserver.metric["status"], "Reconciling").get("status") == "True"
    assert queue_memo.periodic_attempts == {"uid-1": 1}
