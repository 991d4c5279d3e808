import dataclasses

import pytest


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
