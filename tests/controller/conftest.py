import dataclasses

import kopf
import pytest

from agreement_operator import lambda_target
from agreement_operator.controller import error_watch
from agreement_operator.controller.episodes import Episodes
from agreement_operator.controller.schedule import Backoff, Schedule


class _StillApplying:
    """LambdaFunctions whose `method` answers with a function Lambda is still applying (Pending, or an
    update InProgress), as Lambda does for a moment after a create or an update."""

    def __init__(self, functions, method: str, fields: dict) -> None:
        self.functions, self.method, self.fields = functions, method, fields

    def __getattr__(self, name):
        call = getattr(self.functions, name)
        if name != self.method:
            return call
        return lambda *args: dataclasses.replace(call(*args), **self.fields)

    def for_pass(self, urgent):
        return self


@pytest.fixture
def still_applying():
    """A factory: still_applying(functions, "create", state="Pending", last_update_status="InProgress")."""
    return lambda functions, method, **fields: _StillApplying(functions, method, fields)


@pytest.fixture
def posted() -> list:
    return []


@pytest.fixture
def memo(functions, config, posted) -> kopf.Memo:
    targets = {"lambda": lambda_target.LambdaTarget.single(functions, config),
               "label_studio": lambda_target.NOT_CONFIGURED}
    return kopf.Memo(config=config, targets=targets, locks={}, episodes=Episodes(), stall_looks=Backoff(10, 600),
                     resync=Schedule(config.resync_seconds),
                     error_watch=error_watch.ErrorWatch(300, spread_first=False),
                     usage_looks=Schedule(300, spread_first=False),
                     read_configmap=lambda namespace, name: None,
                     write_status=lambda namespace, name, patch, **_: None,
                     mark_revision=lambda namespace, metric, annotation, revision: None,
                     post_event=lambda body, event: posted.append(event))
