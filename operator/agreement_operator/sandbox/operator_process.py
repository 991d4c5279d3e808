"""The operator run as its own process, as in a cluster, against the sandbox."""

import os
import sys
from contextlib import ExitStack
from pathlib import Path

from agreement_operator.sandbox.aws_emulator import AwsEmulator
from agreement_operator.sandbox.control_plane import ControlPlane
from agreement_operator.sandbox.processes import Child, free_port, http_get


class OperatorProcess(Child):
    """The operator's process, and where it serves its Prometheus metrics and its health."""

    metrics_url: str = ""
    liveness_url: str = ""
    readiness_url: str = ""


def start(
    workdir: Path, stack: ExitStack, control_plane: ControlPlane, aws: AwsEmulator,
    extra_env: dict[str, str] | None = None, log_name: str = "operator.log", peering: str | None = None,
    aws_environment: bool = True, priority: int | None = None, ready: bool = True,
) -> OperatorProcess:
    """The operator, ready (or only alive, with `ready=False`: one waiting for its CRD), with its metrics on a
    free port. `aws_environment`: its region, role, endpoint and keys from the AWS emulator (False: only what
    `extra_env` gives, as for an operator that deploys through Label Studio alone). `priority`: its kopf
    peering priority (default random)."""
    port = free_port()
    health = f"http://127.0.0.1:{port}/healthz"
    env = {
        "PATH": os.environ.get("PATH", os.defpath),
        "HOME": os.environ.get("HOME", str(workdir)),
        "KUBECONFIG": str(control_plane.kubeconfig),
        "AGREEMENT_OPERATOR_METRICS_PORT": str(free_port()),  # several operators share this machine
        **(aws.operator_environment() if aws_environment else {}),
        **(extra_env or {}),
    }
    coordination = ["--peering", peering] if peering else ["--standalone"]
    if priority is not None:
        coordination += ["--priority", str(priority)]
    operator = OperatorProcess("agreement-operator", [
        sys.executable, "-m", "agreement_operator", "run", *coordination, "--liveness", health, "--verbose",
    ], workdir / log_name, env=env)
    operator.metrics_url = f"http://127.0.0.1:{env['AGREEMENT_OPERATOR_METRICS_PORT']}" + \
        env.get("AGREEMENT_OPERATOR_METRICS_PATH", "/metrics")
    operator.liveness_url, operator.readiness_url = health, f"http://127.0.0.1:{port}/readyz"
    stack.callback(operator.stop)
    awaited = operator.readiness_url if ready else operator.liveness_url
    operator.wait_until(lambda: http_get(awaited) is not None, 60, "ready" if ready else "alive")
    return operator

