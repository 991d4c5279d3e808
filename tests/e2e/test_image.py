"""The container image, built from the Dockerfile with podman and run as the chart's pod.

The image is built by scripts/build-image (a local Debian base stands in for python:3.12-slim
when no registry answers). The chart is installed into the sandbox's apiserver, and the pod
spec the apiserver stored is run with podman as a kubelet would run it (sandbox/podman_pod.py):
in-cluster credentials of the chart's ServiceAccount, IRSA through a web identity token, the
chart's user, read-only root filesystem and dropped capabilities. Required under CI=true;
elsewhere, without podman or root, skipped with a notice.
"""

import json
import subprocess
import time
import urllib.request
import uuid
from pathlib import Path

import yaml

from agreement_operator.sandbox.podman_pod import PodmanPod, pod_manifest, podman, write_credentials, write_hosts
from agreement_operator.sandbox.processes import free_port, http_get

ROOT = Path(__file__).parents[2]
CHART = ROOT / "helm" / "agreement-operator"
CODE = "def agreement(annotation_1, annotation_2, per_label=False):\n    return 1.0\n"
TESTS = [{"name": "same", "annotation1": {"result": []}, "annotation2": {"result": []}, "expect": 1.0}]
# What the operator's log must never show: RBAC refusals, writes the pod's filesystem refuses, crashes.
BAD_LOG_LINES = ("forbidden", "read-only file system", "permission denied", "traceback")


def run(image: str, *args: str, entrypoint: str | None = None) -> subprocess.CompletedProcess:
    """The image run as the chart runs it: its own user, a read-only root, no capabilities."""
    options = ["--rm", "--read-only", "--cap-drop=ALL", "--security-opt=no-new-privileges"]
    if entrypoint:
        options.append(f"--entrypoint={entrypoint}")
    return podman("run", *options, image, *args, check=False)


def test_the_image_runs_as_its_own_user_on_a_read_only_root(image):
    configuration = json.loads(podman("image", "inspect", image).stdout)[0]["Config"]
    assert configuration["User"] == "10001:10001"
    assert configuration["Entrypoint"] == ["agreement-operator"] and configuration["Cmd"] == ["run"]
    assert run(image, "--version").stdout.strip() == "agreement-operator 0.1.0"
    inside = run(image, "-c", "id -u; id -g; touch /probe 2>&1; python -c 'import agreement_operator.sandbox'",
                 entrypoint="sh")
    assert inside.stdout.splitlines()[:2] == ["10001", "10001"]
    assert "Read-only file system" in inside.stdout
    assert "No module named 'agreement_operator.sandbox'" in inside.stderr  # development tooling stays out
    unconfigured = run(image, "run")
    assert unconfigured.returncode == 2 and "configuration error" in unconfigured.stderr


def test_the_charts_pod_runs_the_operator_in_cluster(image, box, operator, tmp_path):
    release, namespace, metrics_ns = "img", f"agreement-{uuid.uuid4().hex[:5]}", f"img-{uuid.uuid4().hex[:5]}"
    kubectl = box.control_plane.kubectl
    kubectl("create", "namespace", metrics_ns)
    health, metrics = free_port(), free_port()
    repository, tag = image.rsplit(":", 1)
    values = ["--set", "aws.region=us-east-1", "--set-string", "aws.accountId=123456789012",
              "--set", f"aws.endpointUrl={box.aws.endpoint_url}", "--set", f"image.repository={repository}",
              "--set", f"image.tag={tag}", "--set", "image.pullPolicy=Never", "--set", f"healthPort={health}",
              "--set", f"metrics.port={metrics}", "--set", f"watchNamespaces={{{metrics_ns}}}"]
    helm(box, "install", release, str(CHART), "-n", namespace, "--create-namespace", *values)
    account = f"{release}-agreement-operator"
    deployment = json.loads(kubectl("get", "deployment", account, "-n", namespace, "-o", "json").stdout)
    role = json.loads(kubectl("get", "serviceaccount", account, "-n", namespace, "-o", "json").stdout)[
        "metadata"]["annotations"]["eks.amazonaws.com/role-arn"]
    credentials = write_credentials(
        tmp_path / "credentials", kubectl("create", "token", account, "-n", namespace).stdout.strip(), namespace,
        box.control_plane.ca.read_bytes(),
        kubectl("create", "token", account, "-n", namespace, "--audience", "sts.amazonaws.com").stdout.strip())
    port = int(box.control_plane.url.rsplit(":", 1)[1])
    manifest = pod_manifest(account, deployment["spec"]["template"], credentials, port, "us-east-1", irsa_role=role)
    environment = {item["name"] for item in manifest["spec"]["containers"][0]["env"]}
    assert not {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "KUBECONFIG"} & environment  # IRSA and in-cluster only

    with operator.paused():
        pod = PodmanPod(manifest, tmp_path).play()
        try:
            deadline = time.monotonic() + 60
            while http_get(f"http://127.0.0.1:{health}/healthz") is None:
                assert time.monotonic() < deadline, f"the liveness endpoint never answered:\n{pod.logs()[-3000:]}"
                time.sleep(0.5)
            apply(box, metrics_ns, "containerised", {"code": CODE, "tests": TESTS})
            ready = kubectl("wait", "--for=condition=Ready", "-n", metrics_ns, "am/containerised", "--timeout=90s",
                            check=False)
            assert ready.returncode == 0, pod.logs()[-3000:]
            print(f"\nfrom `podman kube play` to the first metric Ready: {time.monotonic() - pod.started:.1f} s")
            apply(box, metrics_ns, "containerised", {"code": CODE + "# v2\n", "tests": TESTS, "memoryMB": 512})
            kubectl("wait", "--for=jsonpath={.status.observedGeneration}=2", "-n", metrics_ns, "am/containerised",
                    "--timeout=60s")
            kubectl("wait", "--for=condition=Ready", "-n", metrics_ns, "am/containerised", "--timeout=60s")
            item = json.loads(kubectl("get", "am", "containerised", "-n", metrics_ns, "-o", "json").stdout)
            function = box.aws.client("lambda").get_function(FunctionName=item["status"]["functionName"])
            assert function["Configuration"]["MemorySize"] == 512
            assert function["Configuration"]["CodeSha256"] == item["status"]["codeSha256"]
            with urllib.request.urlopen(f"http://127.0.0.1:{metrics}/metrics", timeout=10) as response:
                assert b"agreement_operator_reconciles_total{" in response.read()
            kubectl("delete", "am", "containerised", "-n", metrics_ns, "--timeout=60s")
            remaining = [f["FunctionName"] for f in box.aws.client("lambda").list_functions()["Functions"]]
            assert item["status"]["functionName"] not in remaining
            _passes_the_charts_helm_test(box, release, namespace, values, credentials, port, tmp_path)
            log = pod.logs()
        finally:
            pod.stop()
    bad = [line[:300] for line in log.splitlines() if any(word in line.lower() for word in BAD_LOG_LINES)]
    assert bad == []
    assert f"[{metrics_ns}/containerised] Deployed: function" in log


def _passes_the_charts_helm_test(box, release, namespace, values, credentials, port, tmp_path) -> None:
    """The chart's `helm test` pod, as rendered for this release, against the running operator."""
    rendered = helm(box, "template", release, str(CHART), "-n", namespace, *values,
                    "--show-only", "templates/tests/test-health.yaml").stdout
    test_pod = yaml.safe_load(rendered)
    service = f"{release}-agreement-operator-health"
    hosts = write_hosts(tmp_path / "hosts", {service: "127.0.0.1"})  # what cluster DNS would answer
    manifest = pod_manifest(test_pod["metadata"]["name"], test_pod, credentials, port, "us-east-1", hosts_file=hosts)
    pod = PodmanPod(manifest, tmp_path).play()
    try:
        code = pod.exit_code(timeout=60)
        assert code == 0, pod.logs()
        assert "operator healthy:" in pod.logs()
    finally:
        pod.stop()


def apply(box, namespace: str, name: str, spec: dict) -> None:
    box.control_plane.kubectl("apply", "-f", "-", input=json.dumps({
        "apiVersion": "agreement.dev/v1alpha1", "kind": "AgreementMetric",
        "metadata": {"name": name, "namespace": namespace}, "spec": spec}))


def helm(box, *args: str) -> subprocess.CompletedProcess:
    result = box.control_plane.helm(*args)
    assert result.returncode == 0, result.stderr
    return result
