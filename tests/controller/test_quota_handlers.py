"""The handlers with the quota budget and Lambda's Pending state: who goes first, what is written, what is posted."""

import logging

import kopf
import pytest

from agreement_operator import lambda_target
from agreement_operator.controller import conditions, error_watch, handlers
from agreement_operator.controller.episodes import Episodes
from agreement_operator.controller.schedule import Backoff, Schedule
from agreement_operator.lambda_target.budget import Budget

LOGGER = logging.getLogger("test")
NAME = "custom-metric-labeling-sentiment"


def metric(spec: dict, status: dict | None = None, generation: int = 1) -> kopf.Body:
    return kopf.Body({
        "apiVersion": "agreement.dev/v1alpha1", "kind": "AgreementMetric",
        "metadata": {"name": "sentiment", "namespace": "labeling", "uid": "uid-1", "generation": generation},
        "spec": spec, "status": status or {},
    })


@pytest.fixture
def posted() -> list:
    return []


@pytest.fixture
def written() -> list:
    return []


def memo_for(functions, config, posted, written) -> kopf.Memo:
    return kopf.Memo(config=config, targets={"lambda": lambda_target.LambdaTarget.single(functions, config)}, locks={},
                     episodes=Episodes(), stall_looks=Backoff(10, 600),
                     resync=Schedule(config.resync_seconds), error_watch=error_watch.ErrorWatch(300),
                     usage_looks=Schedule(300), read_configmap=lambda namespace, name: None,
                     write_status=lambda namespace, name, patch, **_: written.append(patch),
                     mark_revision=lambda namespace, metric, annotation, revision: None,
                     post_event=lambda body, event: posted.append(event))


def run(handler, body: kopf.Body, memo: kopf.Memo, **kwargs) -> kopf.Patch:
    patch = kopf.Patch()
    handler(body=body, spec=body.spec, meta=body.meta, status=body.status, patch=patch, memo=memo, logger=LOGGER,
            **kwargs)
    return patch


def spent_budget() -> Budget:
    """A budget with 1,000 bulk calls queued ahead: the next bulk turn is 100 s away."""
    budget = Budget("lambda", rate=10, burst=1)
    for n in range(1000):
        budget.take(f"bulk-{n}")
    return budget


def test_a_new_metric_waits_its_turn_and_says_so(functions, config, posted, written, good_metric):
    functions.control = spent_budget()
    memo = memo_for(functions, config, posted, written)
    with pytest.raises(kopf.TemporaryError) as raised:
        patch = kopf.Patch()
        handlers.reconcile_metric(body=metric({"code": good_metric}), spec={"code": good_metric},
                                  meta=metric({}).meta, status={}, patch=patch, memo=memo, logger=LOGGER,
                                  reason="create")
    assert raised.value.delay == pytest.approx(100, abs=1)
    reconciling = conditions.find(patch["status"], "Reconciling")
    assert (reconciling["status"], reconciling["reason"]) == ("True", "WaitingForQuota")
    assert "CreateFunction on custom-metric-labeling-sentiment has its turn in" in reconciling["message"]
    assert posted == []  # waiting for a turn is no error: no Warning Event
    assert functions.read(NAME) is None
    # the turn was taken before any read, and the same write records the name before the create
    assert patch["status"]["functionNames"] == [NAME] and written == []


def test_a_persons_change_to_an_existing_metric_goes_ahead_of_the_bulk_queue(functions, config, posted, written,
                                                                              good_metric):
    memo = memo_for(functions, config, posted, written)
    first = run(handlers.reconcile_metric, metric({"code": good_metric}), memo, reason="create")
    functions.control = spent_budget()  # now 1,000 creates are queued
    changed = good_metric + "\n# a person's change\n"
    status = {**first["status"]}
    patch = run(handlers.reconcile_metric, metric({"code": changed}, status, generation=2), memo, reason="update")
    assert conditions.find(patch["status"], "Ready")["status"] == "True"
    assert [event.reason for event in posted] == ["Created", "CodeUpdated"]
    # a resync (or any other bulk pass) of the same change would have queued behind them
    with pytest.raises(kopf.TemporaryError) as raised:
        run(handlers.reconcile_metric, metric({"code": changed + "#"}, patch["status"], generation=3), memo)
    assert raised.value.delay > 90


def test_a_delete_waiting_for_its_turn_comes_back_then_without_a_warning(functions, config, posted, written,
                                                                         good_metric):
    memo = memo_for(functions, config, posted, written)
    status = run(handlers.reconcile_metric, metric({"code": good_metric}), memo)["status"]
    functions.control = spent_budget()
    posted.clear()
    with pytest.raises(kopf.TemporaryError) as raised:
        handlers.delete_metric(body=metric({"code": good_metric}, status), spec={"code": good_metric},
                               meta=metric({}).meta, status=status, memo=memo)
    assert raised.value.delay == pytest.approx(100, abs=1)
    assert posted == []
    assert functions.read(NAME) is not None


def pending(still_applying, functions):
    return still_applying(functions, "create", state="Pending", last_update_status="InProgress")


def test_a_function_pending_for_a_moment_costs_no_reconciling_write_of_its_own(functions, config, posted, written,
                                                                                good_metric, still_applying):
    memo = memo_for(pending(still_applying, functions), config, posted, written)
    with pytest.raises(kopf.TemporaryError) as raised:
        patch = kopf.Patch()
        handlers.reconcile_metric(body=metric({"code": good_metric}), spec={"code": good_metric},
                                  meta=metric({}).meta, status={}, patch=patch, memo=memo, logger=LOGGER)
    assert raised.value.delay <= handlers.QUIET_SECONDS
    assert "status" not in patch  # the names write already told kstatus it is in progress
    [names] = written
    assert names["functionNames"] == [NAME] and conditions.is_true(names, "Reconciling", 1)
    # the next look writes as before: Ready once Lambda has settled
    ready = run(handlers.reconcile_metric, metric({"code": good_metric}, names), memo, retry=1)
    assert conditions.is_true(ready["status"], "Ready", 1)


def test_a_wait_that_is_not_the_first_look_says_so_in_status(functions, config, posted, written, good_metric,
                                                             still_applying):
    memo = memo_for(pending(still_applying, functions), config, posted, written)
    in_progress = {"observedGeneration": 1, "conditions": conditions.conditions(
        handlers.DEPLOYING.phase, "Deploying", "deploying", 1), "functionNames": [NAME]}
    with pytest.raises(kopf.TemporaryError):
        patch = kopf.Patch()
        handlers.reconcile_metric(body=metric({"code": good_metric}, in_progress), spec={"code": good_metric},
                                  meta=metric({}).meta, status=in_progress, patch=patch, memo=memo, logger=LOGGER,
                                  retry=3)
    assert conditions.find(patch["status"], "Reconciling")["reason"] == "FunctionUpdating"
