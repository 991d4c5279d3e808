"""`agreement-operator demo` and `dev`, run as users run them, leave nothing running."""

import json
import os
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from agreement_operator.sandbox import node
from agreement_operator.sandbox.commands import NODE_NAMESPACE
from agreement_operator.sandbox.processes import eventually

EXAMPLES = Path(__file__).parents[2] / "examples"


def sandbox_processes() -> int:
    result = subprocess.run(["pgrep", "-fc", "kube-apiserver|etcd --data-dir|moto.server|agreement_operator run|"
                                           "source-controller|kustomize-controller|helm-controller"],
                            capture_output=True, text=True, check=False)
    return int(result.stdout.strip() or 0)


def table_rows(out: str) -> dict[str, list[str]]:
    """The `kubectl get am` table the demo prints: first cell -> the other cells."""
    lines = out[out.index("NAME "):].split("\n\n")[0].splitlines()
    return {line.split()[0]: line.split()[1:] for line in lines}


def test_demo_prints_the_table_functions_and_the_error_then_stops(control_plane_binaries):
    before = sandbox_processes()
    result = subprocess.run([sys.executable, "-m", "agreement_operator", "demo"], capture_output=True, text=True,
                            timeout=300, check=False,
                            env={**os.environ, "KUBEBUILDER_ASSETS": str(control_plane_binaries)})
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    rows = table_rows(out)
    assert rows["NAME"][:8] == ["FUNCTION", "PROJECT", "AGREEMENT", "READY", "REASON", "TESTS", "ERRORS", "INVOKED"]
    assert rows["sentiment"][:3] == ["custom-metric-nlp-default-sentiment", "True", "Deployed"]
    assert rows["project-sentiment"][:3] == ["1", "True", "Deployed"]  # no function of ours: Label Studio's
    assert "  project 1: custom metric Active" in out
    assert "  custom-metric-nlp-default-sentiment  handler=agreement_handler.handler  runtime=python3.12" in out
    assert "      team=annotation-quality" in out
    assert "broken-metric is Stalled (InvalidCode): line 2: syntax error: '[' was never closed" in out
    # The fragile example, invoked with annotations it cannot handle: its errors on the resource and in `logs`.
    errors = out[out.index("status.functionErrors"):]
    assert "count: 2" in errors and "type: IndexError" in errors and "line: 4" in errors
    assert "IndexError: list index out of range (metric.py, line 3)\n" in errors
    assert "KeyError: 'choices' (metric.py, line 4)\n" in errors
    assert '  usage: {"window": "1h", "invocations": ' in errors  # someone called it: the demo
    assert out.rstrip().endswith("sandbox stopped.")
    assert sandbox_processes() == before


@contextmanager
def dev_until_ready(control_plane_binaries, *options: str, environment: dict | None = None) -> Iterator[str]:
    """`agreement-operator dev` with `options` (and `environment` added to ours), as a person runs it: what it
    printed up to "sandbox ready"; then Ctrl-C, after which it must exit 0 and leave no process behind."""
    before = sandbox_processes()
    dev = subprocess.Popen([sys.executable, "-m", "agreement_operator", "dev", *options],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                           env={**os.environ, **(environment or {}),
                                "KUBEBUILDER_ASSETS": str(control_plane_binaries)})
    try:
        printed = []
        for line in dev.stdout:
            printed.append(line)
            if line.startswith("# sandbox ready"):
                break
        yield "".join(printed)
    finally:
        dev.send_signal(signal.SIGINT)
        dev.wait(60)
    assert dev.returncode == 0
    assert sandbox_processes() == before


def test_dev_serves_until_interrupted(control_plane_binaries, tmp_path):
    with dev_until_ready(control_plane_binaries, "--resync-seconds", "5") as printed:
        exports = dict(line.split()[1].split("=", 1) for line in printed.splitlines() if line.startswith("export "))
        assert {"KUBECONFIG", "AWS_ENDPOINT_URL", "AWS_REGION"} <= set(exports)
        kubectl = [str(control_plane_binaries / "kubectl"), "--kubeconfig", exports["KUBECONFIG"]]
        subprocess.run([*kubectl, "apply", "-f", str(EXAMPLES / "sentiment.yaml")], check=True, capture_output=True)
        waited = subprocess.run([*kubectl, "wait", "--for=condition=Ready", "am/sentiment", "--timeout=60s"],
                                capture_output=True, text=True, check=False)
        assert waited.returncode == 0, waited.stderr


def test_dev_passes_your_operator_settings_and_names_those_it_sets_itself(control_plane_binaries):
    """Regression: `dev` dropped every AGREEMENT_OPERATOR_* setting of the caller, so a setting tried in the
    sandbox silently did nothing. Here the operator watches only the namespace the caller named."""
    settings = {"AGREEMENT_OPERATOR_NAMESPACES": "team-a", "AGREEMENT_OPERATOR_RESYNC_SECONDS": "30"}
    with dev_until_ready(control_plane_binaries, environment=settings) as printed:
        assert "# operator settings from your environment: AGREEMENT_OPERATOR_NAMESPACES=team-a" in printed
        assert "# set by the sandbox, not from your environment: AGREEMENT_OPERATOR_RESYNC_SECONDS" in printed
        kubeconfig = next(line.split("=", 1)[1] for line in printed.splitlines()
                          if line.startswith("export KUBECONFIG="))
        kubectl = [str(control_plane_binaries / "kubectl"), "--kubeconfig", kubeconfig]
        code = "def agreement(annotation_1, annotation_2, per_label=False):\n    return 1.0\n"
        for namespace in ("team-a", "team-b"):
            subprocess.run([*kubectl, "create", "namespace", namespace], check=True, capture_output=True)
            metric = {"apiVersion": "agreement.dev/v1alpha1", "kind": "AgreementMetric",
                      "metadata": {"name": "sentiment", "namespace": namespace}, "spec": {"code": code}}
            subprocess.run([*kubectl, "apply", "-f", "-"], input=json.dumps(metric), text=True, check=True,
                           capture_output=True)
        waited = subprocess.run([*kubectl, "wait", "--for=condition=Ready", "am/sentiment", "-n", "team-a",
                                 "--timeout=60s"], capture_output=True, text=True, check=False)
        assert waited.returncode == 0, waited.stderr
        time.sleep(2)  # what an operator watching team-b too would have written by now
        untouched = subprocess.run([*kubectl, "get", "am", "sentiment", "-n", "team-b", "-o", "jsonpath={.status}"],
                                   capture_output=True, text=True, check=True).stdout
        assert json.loads(untouched) == {"observedGeneration": 0}  # outside the operator's namespaces


def test_dev_never_prints_or_writes_your_label_studio_key(control_plane_binaries, community):
    """With LABEL_STUDIO_URL and LABEL_STUDIO_API_KEY naming a real server, `dev` prints export lines
    only for what the sandbox made: the key reaches neither the terminal nor any file of the sandbox."""
    key = community.owner.token
    dev = subprocess.Popen([sys.executable, "-m", "agreement_operator", "dev"], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True,
                           env={**os.environ, "KUBEBUILDER_ASSETS": str(control_plane_binaries),
                                "LABEL_STUDIO_URL": community.url, "LABEL_STUDIO_API_KEY": key})
    printed = []
    try:
        for line in dev.stdout:
            printed.append(line)
            if line.startswith("# sandbox ready"):
                break
        workdir = Path(printed[-1].split("logs in ", 1)[1].split(";", 1)[0])
        written = [path for path in workdir.rglob("*") if path.is_file() and key.encode() in path.read_bytes()]
    finally:
        dev.send_signal(signal.SIGINT)
        printed.append(dev.communicate(timeout=60)[0])
    output = "".join(printed)
    assert key not in output and written == []
    assert "export KUBECONFIG=" in output and "export LABEL_STUDIO_API_KEY" not in output
    assert "# LABEL_STUDIO_URL and LABEL_STUDIO_API_KEY: yours" in output


def test_dev_with_flux_prints_a_git_remote_that_flux_follows(control_plane_binaries, tmp_path):
    """`dev --flux`: a push to the printed remote reaches the cluster through Flux; Ctrl-C leaves nothing."""
    with dev_until_ready(control_plane_binaries, "--flux") as text:
        kubeconfig = next(line.split("=", 1)[1] for line in text.splitlines()
                          if line.startswith("export KUBECONFIG="))
        remote = next(line.split()[3] for line in text.splitlines() if line.startswith("#   git clone "))
        assert "kind: Kustomization" in text, text
        clone = tmp_path / "agreement-metrics"
        git = ["git", "-C", str(clone), "-c", "user.name=t", "-c", "user.email=t@example.com"]
        subprocess.run(["git", "clone", "--quiet", remote, str(clone)], check=True)
        metric_code = clone / "examples" / "gitops" / "kustomize" / "sentiment.py"
        metric_code.write_text(metric_code.read_text().replace("return", "return  ", 1))
        subprocess.run([*git, "commit", "--quiet", "-am", "an edit"], check=True)
        subprocess.run([*git, "push", "--quiet"], check=True)
        kubectl = [str(control_plane_binaries / "kubectl"), "--kubeconfig", kubeconfig]

        def applied_code() -> str:
            code_map = subprocess.run([*kubectl, "get", "am", "sentiment", "-n", "labeling", "-o",
                                       "jsonpath={.spec.codeFrom.configMapKeyRef.name}"],
                                      capture_output=True, text=True, check=False).stdout
            return subprocess.run([*kubectl, "get", "configmap", code_map or "none", "-n", "labeling", "-o",
                                   "jsonpath={.data.metric\\.py}"], capture_output=True, text=True, check=False).stdout

        eventually(lambda: "return  " in applied_code(), 120, "Flux to apply the pushed edit")
        waited = subprocess.run([*kubectl, "wait", "--for=condition=Ready", "am/sentiment", "-n", "labeling",
                                 "--timeout=60s"], capture_output=True, text=True, check=False)
        assert waited.returncode == 0, waited.stderr


def test_dev_node_prints_the_helm_install_that_runs_the_chart_on_its_node(control_plane_binaries, image, tmp_path):
    """`make image`, then `dev --node`: the image is on the node, and the lines it prints, run as printed, install
    the chart there; the operator in the pod then deploys a metric through the sandbox's AWS."""
    if reason := node.unavailable():
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI requires the node tier, but {reason}")
        pytest.skip(reason)
    with dev_until_ready(control_plane_binaries, "--node") as printed:
        lines = printed.splitlines()
        kubeconfig = next(line.split("=", 1)[1] for line in lines if line.startswith("export KUBECONFIG="))
        create = next(line for line in lines if line.endswith(f"create namespace {NODE_NAMESPACE}"))
        install = next(line for line in lines if " install agreement-operator " in line)
        environment = {**os.environ, "KUBECONFIG": kubeconfig}
        for command in (create, install + " --timeout 180s"):
            ran = subprocess.run(shlex.split(command), capture_output=True, text=True, env=environment, check=False)
            assert ran.returncode == 0, f"{command}\n{ran.stdout}{ran.stderr}"
        kubectl = [str(control_plane_binaries / "kubectl"), "--kubeconfig", kubeconfig]
        code = "def agreement(annotation_1, annotation_2, per_label=False):\n    return 1.0\n"
        metric = {"apiVersion": "agreement.dev/v1alpha1", "kind": "AgreementMetric",
                  "metadata": {"name": "in-pod", "namespace": NODE_NAMESPACE}, "spec": {"code": code}}
        subprocess.run([*kubectl, "apply", "-f", "-"], input=json.dumps(metric), text=True, check=True,
                       capture_output=True)
        waited = subprocess.run([*kubectl, "wait", "--for=condition=Ready", "am/in-pod", "-n", NODE_NAMESPACE,
                                 "--timeout=90s"], capture_output=True, text=True, check=False)
        assert waited.returncode == 0, waited.stderr
        pods = subprocess.run([*kubectl, "logs", "-n", "agreement-system", "deployment/agreement-operator"],
                              capture_output=True, text=True, check=True).stdout
        assert "in-pod" in pods  # the pod's operator deployed it, not the sandbox's own (which keeps to default)
