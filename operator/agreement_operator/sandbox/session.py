"""The whole sandbox in one context: control plane, AWS emulator, CRD, and the operator."""

import json
import os
import tempfile
import time
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

from agreement_operator.controller import conditions
from agreement_operator.sandbox import aws_emulator, control_plane, node, operator_process
from agreement_operator.sandbox.aws_emulator import AwsEmulator
from agreement_operator.sandbox.control_plane import ControlPlane, repository
from agreement_operator.sandbox.label_studio_server import LabelStudioServer
from agreement_operator.sandbox.node import Node
from agreement_operator.sandbox.node_network import NodeNetwork
from agreement_operator.sandbox.operator_process import OperatorProcess
from agreement_operator.sandbox.processes import StartupFailed


@dataclass
class Sandbox:
    workdir: Path
    control_plane: ControlPlane
    aws: AwsEmulator
    operator: OperatorProcess | None
    # Ours when LABEL_STUDIO_URL was not set; the one named by LABEL_STUDIO_URL otherwise.
    label_studio: LabelStudioServer | None
    label_studio_environment: dict[str, str]
    node: Node | None = None  # a real node (with_node): containerd, the kubelet and the rest

    def command_environment(self) -> dict[str, str]:
        """What the command line (kubectl, `agreement-operator logs`) needs to reach the sandbox."""
        return {"KUBECONFIG": str(self.control_plane.kubeconfig), "AWS_ENDPOINT_URL": self.aws.endpoint_url,
                "AWS_REGION": self.aws.region, **aws_emulator.CREDENTIALS, **self.label_studio_environment}

    def exports(self) -> list[str]:
        """Shell lines that point a terminal at the sandbox: only values the sandbox made itself. Your own
        Label Studio's URL and key stay where they are, and the key is never printed."""
        environment = self.command_environment()
        lines = [f"export {key}={value}" for key, value in environment.items()
                 if self.label_studio is not None or not key.startswith("LABEL_STUDIO_")]
        if self.label_studio is None:
            lines.append("# LABEL_STUDIO_URL and LABEL_STUDIO_API_KEY: yours, as set in your environment")
        return lines

    def metrics(self, namespace: str | None = None) -> list[dict]:
        scope = ["-n", namespace] if namespace else ["-A"]
        return json.loads(self.control_plane.kubectl("get", "agreementmetrics", *scope, "-o", "json").stdout)["items"]

    def wait_settled(self, timeout: float = 120) -> list[dict]:
        """Wait until every metric's status describes its generation and is Ready or Stalled."""
        deadline = time.monotonic() + timeout
        while True:
            items = self.metrics()
            if all(settled(item) for item in items) or time.monotonic() > deadline:
                return items
            time.sleep(0.3)


def condition_of(item: Mapping, kind: str) -> Mapping:
    """Condition `kind` of a whole object as kubectl returns it."""
    return conditions.find(item.get("status") or {}, kind)


def settled(item: dict) -> bool:
    observed = item.get("status", {}).get("observedGeneration") == item["metadata"]["generation"]
    return observed and any(condition_of(item, kind).get("status") == "True" for kind in ("Ready", "Stalled"))


def label_studio(stack: ExitStack, local: bool = False) -> tuple[LabelStudioServer | None, dict[str, str]]:
    """The Label Studio named by LABEL_STUDIO_URL and LABEL_STUDIO_API_KEY (unless `local`), else a local
    API server of ours with one project (id 1) and the operator authenticating with a personal access token."""
    if os.environ.get("LABEL_STUDIO_URL") and not local:
        return None, {name: os.environ.get(name, "") for name in ("LABEL_STUDIO_URL", "LABEL_STUDIO_API_KEY")}
    server = LabelStudioServer().start()
    stack.callback(server.stop)
    server.add_project("Sentiment (sandbox)")
    return server, {"LABEL_STUDIO_URL": server.url, "LABEL_STUDIO_API_KEY": server.personal_access_token}


# The operator settings the sandbox sets itself (from its own options, and a free port): a caller's value of
# these does not reach the operator (cli `dev` and `demo` say so).
SANDBOX_SETTINGS = ("AGREEMENT_OPERATOR_RESYNC_SECONDS", "AGREEMENT_OPERATOR_FUNCTION_ERRORS_SECONDS",
                    "AGREEMENT_OPERATOR_METRICS_PORT")


@contextmanager
def sandbox(resync_seconds: float = 600, with_operator: bool = True, binaries: Path | None = None,
            local_label_studio: bool = False, function_errors_seconds: float = 10,
            idle_seconds: float | None = None, with_node: bool = False, with_crd: bool = True,
            operator_settings: Mapping[str, str] | None = None) -> Iterator[Sandbox]:
    """`function_errors_seconds`: how often the operator reads Ready metrics' function errors (short
    here, so that an error shows on the resource seconds after it happened). `idle_seconds`: the
    sandbox's Lambda makes a function Inactive after this long without an invoke (None: see
    aws_emulator.lifecycle_from). `with_node`: one real node (sandbox/node.py), whose pods reach the
    apiserver on the node's bridge. `with_crd`: apply crds/agreementmetrics.yaml (False: a test installs one
    of its own, an older release's, say). `operator_settings`: more AGREEMENT_OPERATOR_* settings for the
    operator, but those of SANDBOX_SETTINGS."""
    with ExitStack() as stack:
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="agreement-sandbox-")))
        network = None
        if with_node:
            if reason := node.unavailable():
                raise StartupFailed(f"no node on this machine: {reason}")
            network = NodeNetwork.create()
            stack.callback(network.remove)
        # With a node, pods reach the apiserver and AWS on its bridge; otherwise everything is on loopback.
        address = network.gateway if network else "127.0.0.1"
        plane = control_plane.start(workdir, stack, binaries, address=address, service_accounts=network is not None)
        the_node = node.start(workdir, stack, plane, network) if network else None
        aws = aws_emulator.start(workdir, stack, idle_seconds, host=address)
        studio, studio_environment = label_studio(stack, local_label_studio)
        if with_crd:
            plane.kubectl("apply", "-f", str(repository() / "crds" / "agreementmetrics.yaml"))
            plane.kubectl("wait", "--for=condition=Established", "--timeout=60s", "crd/agreementmetrics.agreement.dev")
        operator = None
        if with_operator:
            operator = operator_process.start(
                workdir, stack, plane, aws,
                {**{key: value for key, value in (operator_settings or {}).items() if key not in SANDBOX_SETTINGS},
                 "AGREEMENT_OPERATOR_RESYNC_SECONDS": str(resync_seconds),
                 "AGREEMENT_OPERATOR_FUNCTION_ERRORS_SECONDS": str(function_errors_seconds), **studio_environment})
        yield Sandbox(workdir, plane, aws, operator, studio, studio_environment, the_node)
