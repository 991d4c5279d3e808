"""`agreement-operator dev` and `agreement-operator demo`."""

import json
import os
import signal
import subprocess
import sys
import time
from contextlib import ExitStack
from importlib import metadata
from pathlib import Path

import yaml

from agreement_operator import failures
from agreement_operator.label_studio_target.label_studio_api import LabelStudioProjects
from agreement_operator.sandbox import aws_emulator, flux, node
from agreement_operator.sandbox.control_plane import repository
from agreement_operator.sandbox.podman import podman
from agreement_operator.sandbox.processes import StartupFailed
from agreement_operator.sandbox.session import SANDBOX_SETTINGS, Sandbox, condition_of, sandbox

# With --node, where the chart's operator on the node takes its metrics (the sandbox's own keeps to default).
NODE_NAMESPACE = "on-node"
# Read by the build scripts and the tests (where builds are cached), not by the operator.
_NOT_OPERATOR_SETTINGS = ("AGREEMENT_OPERATOR_CACHE",)


def _stop_on_sigterm() -> None:
    """SIGTERM unwinds like Ctrl-C, so every sandbox process is stopped."""
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))


def _callers_settings() -> dict[str, str]:
    """The caller's AGREEMENT_OPERATOR_* settings, for the sandbox's operator; printed, with those the sandbox
    sets itself, so that a setting tried in the sandbox never silently does nothing."""
    settings = {key: value for key, value in sorted(os.environ.items())
                if key.startswith("AGREEMENT_OPERATOR_") and key not in _NOT_OPERATOR_SETTINGS}
    passed = [f"{key}={value}" for key, value in settings.items() if key not in SANDBOX_SETTINGS]
    print(f"# operator settings from your environment: {', '.join(passed) or 'none'}")
    if ignored := [key for key in settings if key in SANDBOX_SETTINGS]:
        print(f"# set by the sandbox, not from your environment: {', '.join(ignored)} "
              "(dev: --resync-seconds; the metrics port is a free one)")
    return settings


def dev(resync_seconds: float, idle_seconds: float | None = None, with_node: bool = False,
        with_flux: bool = False) -> int:
    _stop_on_sigterm()
    print("starting the sandbox: etcd, kube-apiserver, the AWS emulator, the CRD and the operator"
          f"{', and a node' if with_node else ''}{', and Flux' if with_flux else ''}...", flush=True)
    try:
        settings = _callers_settings()
        if with_node:  # the chart's operator on the node takes namespace NODE_NAMESPACE; ours keeps to default
            settings.setdefault("AGREEMENT_OPERATOR_NAMESPACES", "default")
            print(f"# this sandbox's operator watches: {settings['AGREEMENT_OPERATOR_NAMESPACES']}")
        with sandbox(resync_seconds=resync_seconds, idle_seconds=idle_seconds, with_node=with_node,
                     operator_settings=settings) as box, ExitStack() as stack:
            print("\n".join(box.exports()))
            if box.node is not None:
                print(f"# a node ({node.NODE_NAME}) on bridge {box.node.network.bridge}, "
                      f"{box.node.network.subnet}: kubectl get pods -A")
                _offer_the_chart(box)
            if with_flux:
                _start_flux(box, stack)
            operator = box.operator
            assert operator is not None  # sandbox() starts one unless told not to
            print(f"# the operator's Prometheus metrics: {operator.metrics_url}")
            print(f"# sandbox ready; logs in {box.workdir}; Ctrl-C stops everything", flush=True)
            while operator.running():
                time.sleep(1)
            print(f"the operator exited:\n{operator.log_tail()}", file=sys.stderr)
            return 1
    except StartupFailed as error:
        print(f"agreement-operator dev: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0


def _offer_the_chart(box: Sandbox) -> None:
    """With a node: the image `make image` built imported into its containerd (when there is one), and the
    `helm install` line that runs the chart's operator on the node against the sandbox's AWS."""
    assert box.node is not None
    image = f"localhost/agreement-operator:{metadata.version('agreement-operator')}"  # scripts/build-image's name
    if podman("image", "exists", image, check=False).returncode != 0:
        print(f"# no image {image} to run the chart with: run `make image`, then start dev --node again")
        return
    archive = box.workdir / "operator-image.tar"
    podman("save", "--output", str(archive), image)
    box.node.import_image(archive)
    print(f"# {image} is on the node; the chart's operator on the node, for metrics in namespace {NODE_NAMESPACE}:")
    print(f"{box.control_plane.binaries / 'kubectl'} create namespace {NODE_NAMESPACE}")
    print(" ".join(chart_install_line(box, image)))


def chart_install_line(box: Sandbox, image: str) -> list[str]:
    """`helm install` of the chart with `image` on the sandbox's node: the image as imported (never pulled), AWS
    at the sandbox's front door on the node's bridge, and the emulator's keys standing in for IRSA."""
    name, tag = image.rsplit(":", 1)
    keys = [f"--set extraEnv[{index}].name={name} --set-string extraEnv[{index}].value={value}"
            for index, (name, value) in enumerate(aws_emulator.CREDENTIALS.items())]
    return [str(box.control_plane.binaries / "helm"), "install", "agreement-operator",
            str(repository() / "helm" / "agreement-operator"), "-n", "agreement-system", "--create-namespace",
            "--wait", f"--set aws.region={box.aws.region}", f"--set-string aws.accountId={aws_emulator.ACCOUNT}",
            f"--set aws.endpointUrl={box.aws.endpoint_url}", f"--set image.repository={name}",
            f"--set image.tag={tag}", "--set image.pullPolicy=Never", f"--set watchNamespaces={{{NODE_NAMESPACE}}}",
            *keys]


def _start_flux(box: Sandbox, stack: ExitStack) -> None:
    running = flux.start(box.workdir, stack, box.control_plane)
    url, manifest = flux.playground(box.workdir, running, box.control_plane)
    print(f"# Flux follows {url} (branch main; the kustomize example is in {flux.KUSTOMIZE}):")
    print(f"#   git clone {url} && cd agreement-metrics   # edit, commit, git push")
    print("#   kubectl get kustomizations -n flux-system   # Flux's verdict; the Kustomization it follows:")
    print("\n".join(f"#   {line}" for line in manifest.splitlines() if line.strip()))


def demo(examples: Path | None = None) -> int:
    examples = examples or repository() / "examples"
    _stop_on_sigterm()
    print("starting the sandbox: etcd, kube-apiserver, the AWS emulator, the CRD and the operator...", flush=True)
    try:
        # Short intervals: the fragile example's errors reach its status seconds after the invocation.
        with sandbox(resync_seconds=60, function_errors_seconds=2, operator_settings=_callers_settings()) as box:
            started = time.monotonic()
            print(box.control_plane.kubectl("apply", "-f", str(examples)).stdout, flush=True)
            items = box.wait_settled()
            print(f"# every metric settled {time.monotonic() - started:.1f} s after kubectl apply\n")
            print(box.control_plane.kubectl("get", "am", "-o", "wide").stdout)
            _print_functions(box)
            _print_projects(box, items)
            _print_problems(items)
            if any(item["metadata"]["name"] == FRAGILE for item in items):
                _show_function_errors(box)
    except StartupFailed as error:
        print(f"agreement-operator demo: {error}", file=sys.stderr)
        return 1
    print("sandbox stopped.")
    return 0


FRAGILE = "fragile-metric"
# What Label Studio would send a metric that expects a Choices result in every annotation.
_UNEXPECTED_PAIRS = [
    {"annotation_1": {"result": [{"type": "choices", "value": {"choices": ["Positive"]}}]},
     "annotation_2": {"result": [], "was_cancelled": True}},
    {"annotation_1": {"result": [{"type": "rating", "value": {"rating": 4}}]},
     "annotation_2": {"result": [{"type": "rating", "value": {"rating": 5}}]}},
]


def _show_function_errors(box: Sandbox) -> None:
    """Invoke the fragile example as Label Studio would, then show where its errors surface."""
    item = next(item for item in box.metrics("default") if item["metadata"]["name"] == FRAGILE)
    function = item["status"]["functionName"]
    answer = box.aws.client("lambda").invoke(FunctionName=function, Payload=json.dumps({"pairs": _UNEXPECTED_PAIRS}))
    print(f"invoked {function} with a skipped annotation and a rating: {answer['Payload'].read().decode()}\n")
    deadline = time.monotonic() + 60
    errors: dict = {}
    usage: dict = {}
    while time.monotonic() < deadline and (errors.get("count", 0) < len(_UNEXPECTED_PAIRS)
                                           or not usage.get("invocations")):
        time.sleep(0.5)
        status = next(i for i in box.metrics("default") if i["metadata"]["name"] == FRAGILE)["status"]
        errors, usage = status.get("functionErrors") or {}, status.get("usage") or {}
    print(box.control_plane.kubectl("get", "am", FRAGILE).stdout)
    print(f"kubectl get am {FRAGILE} -o yaml: status.functionErrors and status.usage (is anyone calling it?)")
    print("  " + yaml.safe_dump(_readable(errors), sort_keys=False).replace("\n", "\n  ").rstrip())
    print("  usage: " + json.dumps({key: usage[key] for key in ("window", "invocations", "errors", "throttles")
                                    if key in usage}))
    command = [sys.executable, "-m", "agreement_operator", "logs", FRAGILE, "--errors", "--since", "10m"]
    logs = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False,
                          env={**os.environ, **box.command_environment()})
    print(f"\n$ agreement-operator logs {FRAGILE} --errors\n{logs.stdout}{logs.stderr}")


def _readable(errors: dict) -> dict:
    """status.functionErrors with its keys in reading order (the apiserver returns them sorted)."""
    def ordered(mapping: dict, order: tuple[str, ...]) -> dict:
        return {key: mapping[key] for key in sorted(mapping, key=lambda key: (*order, key).index(key))}

    summary = ordered(errors, ("window", "since", "count", "message", "recent"))
    summary["recent"] = [ordered(error, ("time", "type", "message", "line")) for error in errors.get("recent", [])]
    return summary


def _print_functions(box: Sandbox) -> None:
    lam = box.aws.client("lambda")
    print("Lambda functions in the AWS emulator:")
    for function in sorted(lam.list_functions()["Functions"], key=lambda f: f["FunctionName"]):
        tags = lam.list_tags(Resource=function["FunctionArn"])["Tags"]
        print(f"  {function['FunctionName']}  handler={function['Handler']}  runtime={function['Runtime']}")
        for key in sorted(tags):
            print(f"      {key}={tags[key]}")
    print()


def _print_projects(box: Sandbox, items: list[dict]) -> None:
    """What Label Studio reports for each project a metric deploys through."""
    targets = sorted({item["spec"]["labelStudio"]["project"] for item in items if item["spec"].get("labelStudio")})
    if not targets:
        return
    environment = box.label_studio_environment
    projects = LabelStudioProjects(environment["LABEL_STUDIO_URL"], environment["LABEL_STUDIO_API_KEY"])
    print(f"Label Studio projects at {projects.url}:")
    for project in targets:
        try:
            function = projects.read_function(project)
            metric = projects.metric_name(project)
        except failures.ReconcileFailure as failure:
            print(f"  project {project}: {failure.message}")
            continue
        first_line = next((line for line in function.code.splitlines() if line.strip()), "")
        selected = repr(metric) if metric else "not set"
        print(f"  project {project}: custom metric {function.status}, agreement metric {selected}, "
              f"{len(function.code)} characters of code starting {first_line!r}")
    print()


def _print_problems(items: list[dict]) -> None:
    for item in items:
        stalled = condition_of(item, "Stalled")
        if stalled.get("status") == "True":
            print(f"{item['metadata']['name']} is Stalled ({stalled['reason']}): {stalled['message']}")
