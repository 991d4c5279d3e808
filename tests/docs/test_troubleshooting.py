"""Every condition reason the code raises is on the troubleshooting page, with what it means and what to do."""

import ast
from pathlib import Path

from agreement_operator import failures

ROOT = Path(__file__).parents[2]
RAISERS = {"PermanentFailure", "RetryableFailure", "InProgress", "ReconcileFailure"}
# Reasons made elsewhere than a failure's constructor: the conditions of a pass, and AWS's own error codes.
OTHERS = {"Deploying", "WaitingForQuota", "InternalError", "InvalidCode", "InvalidSpec", "InvalidName",
          "InvalidParameterValue", "TooManyRequestsException", "ThrottlingException", "AWSUnreachable"}


def raised_reasons() -> set[str]:
    found = set()
    for path in (ROOT / "operator" / "agreement_operator").rglob("*.py"):
        if "sandbox" in path.parts:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant):
                name = node.func.id if isinstance(node.func, ast.Name) else getattr(node.func, "attr", "")
                if name in RAISERS and isinstance(node.args[0].value, str):
                    found.add(node.args[0].value)
    return found


def test_every_reason_is_on_the_troubleshooting_page():
    page = (ROOT / "docs" / "troubleshooting.md").read_text()
    reasons = raised_reasons() | set(failures.OUTSIDE_THE_RESOURCE) | OTHERS
    assert len(reasons) > 30
    # Never a condition: LogsQueryFailed goes to status.functionErrors; NotFound and Conflict (the metric deleted,
    # or changed since it was read) drop a periodic status write, and the next look reads the metric again.
    internal = {"LogsQueryFailed", "NotFound", "Conflict"}
    missing = sorted(reason for reason in reasons - internal if f"`{reason}`" not in page)
    assert missing == [], f"docs/troubleshooting.md does not explain {missing}"


def test_the_reasons_the_operator_looks_at_again_by_itself_say_so():
    rows = [line for line in (ROOT / "docs" / "troubleshooting.md").read_text().splitlines() if line.startswith("| `")]
    for reason in failures.OUTSIDE_THE_RESOURCE:
        row = next(line for line in rows if f"`{reason}`" in line)
        assert row.rstrip(" |").endswith("yes"), reason
