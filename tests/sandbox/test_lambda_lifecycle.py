"""The sandbox Lambda's lifecycle on a clock of the test's own: Pending, idle, restores, fresh code."""

import pytest

from agreement_operator.sandbox import lambda_lifecycle
from agreement_operator.sandbox.lambda_lifecycle import Lifecycle


@pytest.fixture
def clock(monkeypatch):
    now = [1000.0]
    monkeypatch.setattr(lambda_lifecycle.time, "monotonic", lambda: now[0])
    return now


def state(lifecycle: Lifecycle, name: str = "f") -> tuple:
    configuration = {"State": "Active", "LastUpdateStatus": "Successful"}
    lifecycle.describe(name, configuration)
    return configuration["State"], configuration.get("StateReasonCode"), configuration["LastUpdateStatus"]


def test_a_function_goes_inactive_when_idle_and_an_invoke_restores_it(clock):
    lifecycle = Lifecycle(idle_seconds=60, restore_seconds=5)
    lifecycle.changed("CreateFunction", "f")
    assert state(lifecycle) == ("Active", None, "Successful") and lifecycle.admit_invoke("f") is None
    clock[0] += 61
    assert state(lifecycle) == ("Inactive", "Idle", "Successful")
    refused = lifecycle.admit_invoke("f")
    assert (refused.status, refused.error_type) == (502, "ResourceNotReadyException")
    assert state(lifecycle) == ("Pending", "Restoring", "Successful")
    clock[0] += 2
    assert lifecycle.admit_invoke("f").error_type == "ResourceConflictException"
    clock[0] += 4
    assert state(lifecycle) == ("Active", None, "Successful") and lifecycle.admit_invoke("f") is None


def test_an_update_of_an_inactive_function_restores_it_while_the_update_is_in_progress(clock):
    lifecycle = Lifecycle(idle_seconds=60, restore_seconds=5)
    lifecycle.changed("CreateFunction", "f")
    clock[0] += 61
    lifecycle.changed("UpdateFunctionCode", "f")
    assert state(lifecycle) == ("Pending", "Restoring", "InProgress")
    clock[0] += 6
    assert state(lifecycle) == ("Active", None, "Successful")


def test_pending_after_a_create_and_fresh_code_refuse_invokes(clock):
    lifecycle = Lifecycle(pending_seconds=1, code_pending_seconds=30)
    lifecycle.changed("CreateFunction", "f")
    assert state(lifecycle) == ("Pending", "Creating", "InProgress")
    assert lifecycle.admit_invoke("f").error_type == "ResourceConflictException"
    clock[0] += 2
    refused = lifecycle.admit_invoke("f")
    assert (refused.status, refused.error_type) == (409, "CodeArtifactUserPendingException")
    clock[0] += 30
    assert lifecycle.admit_invoke("f") is None


def test_off_by_default_and_functions_it_never_saw_are_left_as_moto_says(clock):
    lifecycle = Lifecycle()
    lifecycle.changed("CreateFunction", "f")
    clock[0] += 10 ** 6
    assert state(lifecycle) == ("Active", None, "Successful") and lifecycle.admit_invoke("f") is None
    assert state(lifecycle, "never-seen") == ("Active", None, "Successful")
