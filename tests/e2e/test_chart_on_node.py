"""The chart installed on the sandbox's real node (sandbox/node.py): the kubelet runs the operator's pod
from the image, with its probes, its ServiceAccount token and IRSA's projected token; `helm test`'s pod
reaches the operator through CoreDNS and kube-proxy. Under CI=true a machine that cannot run a node or
podman fails; elsewhere these tests are skipped.

EKS's pod identity webhook is not served by the Go module proxy, so a helm post-renderer adds to the
Deployment what the webhook adds to its pods (docs/node.md); the kubelet then projects the token and
the operator exchanges it with the emulator's STS.
"""

import concurrent.futures
import json
import os
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest

from agreement_operator.sandbox import node
from agreement_operator.sandbox.podman import podman
from agreement_operator.sandbox.processes import eventually
from agreement_operator.sandbox.session import sandbox

CHART = Path(__file__).parents[2] / "helm" / "agreement-operator"
CODE = "def agreement(annotation_1, annotation_2, per_label=False):\n    return 1.0\n"
PRODUCTION = ("111111111111", "eu-west-1")  # a second AWS account and region (aws.connections)
TESTS = [{"name": "same", "annotation1": {"result": []}, "annotation2": {"result": []}, "expect": 1.0}]
ROLE = "arn:aws:iam::123456789012:role/LSE_ServiceAccountApp"
IRSA_DIR = "/var/run/secrets/eks.amazonaws.com/serviceaccount"  # where EKS's webhook mounts the token
# What the operator's log must never show: RBAC refusals, writes the pod's filesystem refuses, crashes.
BAD_LOG_LINES = ("forbidden", "read-only file system", "permission denied", "traceback")
# What EKS's pod identity webhook adds to a pod whose ServiceAccount has eks.amazonaws.com/role-arn.
IRSA_ENVIRONMENT = [{"name": "AWS_ROLE_ARN", "value": ROLE},
                    {"name": "AWS_WEB_IDENTITY_TOKEN_FILE", "value": f"{IRSA_DIR}/token"},
                    {"name": "AWS_STS_REGIONAL_ENDPOINTS", "value": "regional"}]
IRSA_VOLUME = {"name": "aws-iam-token", "projected": {"sources": [{"serviceAccountToken": {
    "audience": "sts.amazonaws.com", "expirationSeconds": 86400, "path": "token"}}]}}
POD_IDENTITY = """
import json, sys, yaml
environment, volume, mount = json.loads(sys.argv[1]), json.loads(sys.argv[2]), sys.argv[3]
documents = [document for document in yaml.safe_load_all(sys.stdin) if document]
for document in documents:
    if document.get("kind") == "Deployment":
        pod = document["spec"]["template"]["spec"]
        pod.setdefault("volumes", []).append(volume)
        for container in pod["containers"]:
            container.setdefault("env", []).extend(environment)
            container.setdefault("volumeMounts", []).append({"name": volume["name"], "mountPath": mount,
                                                             "readOnly": True})
sys.stdout.write(yaml.safe_dump_all(documents))
"""


@pytest.fixture(scope="module")
def cluster(control_plane_binaries, image):
    if reason := node.unavailable():
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI requires the node tier, but {reason}")
        pytest.skip(reason)
    with sandbox(with_operator=False, binaries=control_plane_binaries, local_label_studio=True,
                 with_node=True) as box:
        assert box.node is not None
        archive = box.workdir / "operator-image.tar"
        podman("save", "--output", str(archive), image)
        box.node.import_image(archive)
        yield box


def helm(box, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    result = box.control_plane.helm(*args)
    assert result.returncode == 0 or not check, result.stderr
    return result


def post_renderer(folder: Path) -> Path:
    """A helm post-renderer (rendered YAML on stdin, YAML out) that does what the webhook does."""
    (folder / "pod_identity.py").write_text(POD_IDENTITY)
    script = folder / "pod-identity"
    script.write_text(f"#!/bin/sh\nexec {sys.executable} {folder / 'pod_identity.py'} "
                      f"'{json.dumps(IRSA_ENVIRONMENT)}' '{json.dumps(IRSA_VOLUME)}' {IRSA_DIR}\n")
    script.chmod(0o755)
    return script


def install(box, release: str, namespace: str, image: str, metrics_ns: str, folder: Path, *values: str,
            endpoint: str | None = None) -> None:
    repository, tag = image.rsplit(":", 1)
    helm(box, "install", release, str(CHART), "-n", namespace, "--create-namespace", "--wait", "--timeout", "180s",
         "--post-renderer", str(post_renderer(folder)),
         "--set", "aws.region=us-east-1", "--set-string", "aws.accountId=123456789012",
         "--set", f"aws.endpointUrl={endpoint or box.aws.endpoint_url}", "--set", f"image.repository={repository}",
         "--set", f"image.tag={tag}", "--set", "image.pullPolicy=Never", "--set", f"watchNamespaces={{{metrics_ns}}}",
         *values)


def connection_values(box, name: str, metrics_ns: str) -> list[str]:
    """Helm values naming one AWS connection in the second account, serving `metrics_ns`."""
    connection = box.aws.connection(name, *PRODUCTION, [metrics_ns])
    connection["namespaces"] = f"{{{metrics_ns}}}"
    return [item for key, value in connection.items() for item in ("--set", f"aws.connections[0].{key}={value}")]


def apply_metric(box, name: str, namespace: str, spec: dict | None = None) -> None:
    box.control_plane.kubectl("apply", "-f", "-", input=json.dumps({
        "apiVersion": "agreement.dev/v1alpha1", "kind": "AgreementMetric",
        "metadata": {"name": name, "namespace": namespace}, "spec": spec or {"code": CODE, "tests": TESTS}}))


def functions_of(box, metrics_ns: str) -> list[str]:
    """The names of the Lambda functions of the metrics in `metrics_ns`."""
    return [function["FunctionName"] for function in box.aws.client("lambda").list_functions()["Functions"]
            if metrics_ns in function["FunctionName"]]


def pods(box, namespace: str) -> list[dict]:
    listed = box.control_plane.kubectl("get", "pods", "-n", namespace, "-o", "json",
                                       "-l", "app.kubernetes.io/name=agreement-operator")
    return json.loads(listed.stdout)["items"]


def test_the_chart_on_a_real_node_runs_the_operator_deploys_a_metric_and_passes_helm_test(cluster, image, tmp_path):
    box, kubectl = cluster, cluster.control_plane.kubectl
    release, namespace, metrics_ns = "node", f"agreement-{uuid.uuid4().hex[:5]}", f"node-{uuid.uuid4().hex[:5]}"
    kubectl("create", "namespace", metrics_ns)
    started = time.monotonic()
    # A second account, served to metrics_ns through aws.connections.
    install(box, release, namespace, image, metrics_ns, tmp_path, *connection_values(box, "production", metrics_ns))
    installed = time.monotonic() - started
    deployment = f"{release}-agreement-operator"
    status = json.loads(kubectl("get", "deployment", deployment, "-n", namespace, "-o", "json").stdout)["status"]
    assert status.get("availableReplicas") == 1  # the kubelet found the pod ready through its readiness probe
    pod = pods(box, namespace)[0]
    assert pod["spec"]["nodeName"] == node.NODE_NAME
    environment = {item["name"] for item in pod["spec"]["containers"][0]["env"]}
    assert "AWS_ROLE_ARN" in environment and not {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"} & environment

    apply_metric(box, "on-node", metrics_ns)
    ready = kubectl("wait", "--for=condition=Ready", "-n", metrics_ns, "am/on-node", "--timeout=120s", check=False)
    logs = kubectl("logs", "-n", namespace, f"deployment/{deployment}", check=False).stdout
    assert ready.returncode == 0, logs[-3000:]
    item = json.loads(kubectl("get", "am", "on-node", "-n", metrics_ns, "-o", "json").stdout)
    assert box.aws.client("lambda").get_function(FunctionName=item["status"]["functionName"])
    assert f"[{metrics_ns}/on-node] Deployed: function" in logs
    # One metric in the other account, through the connection the chart's values named: the pod assumed its role.
    apply_metric(box, "in-production", metrics_ns, {"code": CODE, "aws": {"connection": "production"}})
    kubectl("wait", "--for=condition=Ready", "-n", metrics_ns, "am/in-production", "--timeout=120s")
    placed = json.loads(kubectl("get", "am", "in-production", "-n", metrics_ns, "-o", "json").stdout)["status"]
    assert placed["functionArn"].split(":")[3:5] == [PRODUCTION[1], PRODUCTION[0]]
    assert placed["functionName"] in box.aws.functions_in(*PRODUCTION)
    assert placed["functionName"] not in functions_of(box, metrics_ns)  # not in the default account
    kubectl("delete", "am", "in-production", "-n", metrics_ns, "--timeout=60s")
    # The pod has no keys and nothing else to ask (no route leaves the machine, so no instance metadata):
    # its credentials came from the emulator's STS for the token the kubelet projected, audience STS's.
    claims = kubectl("exec", "-n", namespace, f"deployment/{deployment}", "--", "python", "-c",
                     "import base64, json; part = open('" + IRSA_DIR + "/token').read().split('.')[1]; "
                     "print(json.loads(base64.urlsafe_b64decode(part + '==')))").stdout
    assert "'aud': ['sts.amazonaws.com']" in claims

    # A code and configuration change, applied by the operator in the pod.
    apply_metric(box, "on-node", metrics_ns, {"code": CODE + "# v2\n", "tests": TESTS, "memoryMB": 512})
    kubectl("wait", "--for=jsonpath={.status.observedGeneration}=2", "-n", metrics_ns, "am/on-node", "--timeout=60s")
    kubectl("wait", "--for=condition=Ready", "-n", metrics_ns, "am/on-node", "--timeout=60s")
    item = json.loads(kubectl("get", "am", "on-node", "-n", metrics_ns, "-o", "json").stdout)
    function = box.aws.client("lambda").get_function(FunctionName=item["status"]["functionName"])
    assert function["Configuration"]["MemorySize"] == 512
    assert function["Configuration"]["CodeSha256"] == item["status"]["codeSha256"]
    scraped = kubectl("exec", "-n", namespace, f"deployment/{deployment}", "--", "python", "-c",
                      "import urllib.request; print(urllib.request.urlopen('http://127.0.0.1:9090/metrics').read())")
    assert "agreement_operator_reconciles_total{" in scraped.stdout

    # The chart deletes its test pod once it succeeded (hook-succeeded), so helm reports the phase, not logs.
    tested = helm(box, "test", release, "-n", namespace, "--timeout", "120s", check=False)
    assert tested.returncode == 0, tested.stdout + tested.stderr
    assert "Phase:          Succeeded" in tested.stdout
    print(f"\nhelm install --wait on the node: {installed:.1f} s; to helm test passed: "
          f"{time.monotonic() - started:.1f} s")
    kubectl("delete", "am", "on-node", "-n", metrics_ns, "--timeout=60s")
    remaining = [f["FunctionName"] for f in box.aws.client("lambda").list_functions()["Functions"]]
    assert item["status"]["functionName"] not in remaining
    log = kubectl("logs", "-n", namespace, f"deployment/{deployment}").stdout
    assert [line[:300] for line in log.splitlines() if any(word in line.lower() for word in BAD_LOG_LINES)] == []
    helm(box, "uninstall", release, "-n", namespace, "--wait")


def test_a_broken_liveness_endpoint_makes_the_kubelet_restart_the_pod(cluster, image, tmp_path):
    """The test-only switch (controller/health.py) fails the running process's probe: the kubelet, probing
    the chart's port and path, restarts the container, and its successor is healthy."""
    box, kubectl = cluster, cluster.control_plane.kubectl
    namespace, metrics_ns = f"agreement-{uuid.uuid4().hex[:5]}", f"live-{uuid.uuid4().hex[:5]}"
    kubectl("create", "namespace", metrics_ns)
    install(box, "live", namespace, image, metrics_ns, tmp_path,
            "--set", "extraEnv[0].name=AGREEMENT_OPERATOR_TEST_UNHEALTHY_FILE",
            "--set", "extraEnv[0].value=/tmp/unhealthy", "--set", "livenessProbe.initialDelaySeconds=0",
            "--set", "livenessProbe.periodSeconds=2", "--set", "livenessProbe.failureThreshold=2")
    pod = pods(box, namespace)[0]["metadata"]["name"]
    broken = time.monotonic()
    kubectl("exec", "-n", namespace, pod, "--", "python", "-c", "open('/tmp/unhealthy', 'w').close()")
    restarted = eventually(lambda: (found := pods(box, namespace)[0])["status"]["containerStatuses"][0]
                           ["restartCount"] >= 1 and found, 90, "the kubelet to restart the container")
    restart_seconds = time.monotonic() - broken
    assert restarted["metadata"]["name"] == pod  # the same pod: the kubelet restarted its container
    unhealthy = [event["message"] for event in json.loads(kubectl(
        "get", "events", "-n", namespace, "--field-selector", f"involvedObject.name={pod},reason=Unhealthy",
        "-o", "json").stdout)["items"]]
    assert any("Liveness probe failed: HTTP probe failed with statuscode: 500" in message for message in unhealthy)
    kubectl("wait", "--for=condition=Ready", "-n", namespace, f"pod/{pod}", "--timeout=60s")
    apply_metric(box, "after-restart", metrics_ns)  # the restarted operator works
    kubectl("wait", "--for=condition=Ready", "-n", metrics_ns, "am/after-restart", "--timeout=90s")
    print(f"\nliveness switched off to the container restarted: {restart_seconds:.1f} s")
    kubectl("delete", "am", "after-restart", "-n", metrics_ns, "--timeout=60s")
    helm(box, "uninstall", "live", "-n", namespace, "--wait")


def operator_log(box, namespace: str, pod: str) -> str:
    return box.control_plane.kubectl("logs", "-n", namespace, pod, check=False).stdout


class PodLogs:
    """Every operator pod's log, followed from its start into a file: a replaced pod's log outlives it."""

    def __init__(self, box, namespace: str, folder: Path) -> None:
        self.box, self.namespace, self.folder = box, namespace, folder
        self.followed: dict[str, subprocess.Popen] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._follow_new_pods, daemon=True)
        self._thread.start()

    def _follow_new_pods(self) -> None:
        while not self._stop.wait(0.5):
            for pod in pods(self.box, self.namespace):
                name = pod["metadata"]["name"]
                running = any("running" in status.get("state", {})
                              for status in pod["status"].get("containerStatuses") or [])
                if name not in self.followed and running:
                    plane = self.box.control_plane
                    self.followed[name] = subprocess.Popen(
                        [str(plane.binaries / "kubectl"), "--kubeconfig", str(plane.kubeconfig), "logs", "-f",
                         "-n", self.namespace, name], stdout=(self.folder / f"{name}.log").open("w"),
                        stderr=subprocess.DEVNULL)

    def lines_about(self, metric: str) -> str:
        return "\n".join(f"{path.stem}: {line}" for path in sorted(self.folder.glob("*.log"))
                         for line in path.read_text(errors="replace").splitlines() if f"/{metric}]" in line)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()
        for process in self.followed.values():
            process.terminate()


def two_replicas(box, release: str, image: str, folder: Path, request: pytest.FixtureRequest):
    """A release of 2 replicas (kopf peering) watching a namespace of its own, whose Lambda keeps a new
    function Pending and refuses its Invoke while the code is settling (a metric's lifecycle spans several
    passes, as on AWS): its namespace, that namespace, the Lambda proxy, and the pods' logs (followed until
    the test ends, whatever its outcome)."""
    namespace, metrics_ns = f"agreement-{uuid.uuid4().hex[:5]}", f"{release}-{uuid.uuid4().hex[:5]}"
    box.control_plane.kubectl("create", "namespace", metrics_ns)
    slow = box.aws.proxy(host=box.aws.front.host, pending_seconds=3, code_pending_seconds=4)
    install(box, release, namespace, image, metrics_ns, folder, "--set", "replicaCount=2", endpoint=slow.url)
    logs = PodLogs(box, namespace, folder)
    request.addfinalizer(logs.stop)
    return namespace, metrics_ns, slow, logs


def wait_ready(box, name: str, metrics_ns: str, logs: PodLogs) -> None:
    """The metric Ready within 120 s; else its status and what every pod logged about it."""
    kubectl = box.control_plane.kubectl
    ready = kubectl("wait", "--for=condition=Ready", "-n", metrics_ns, f"am/{name}", "--timeout=120s", check=False)
    assert ready.returncode == 0, (kubectl("get", "am", name, "-n", metrics_ns, "-o", "yaml").stdout
                                   + logs.lines_about(name)[-6000:])


def test_two_replicas_hand_over_when_the_active_pod_is_deleted_mid_lifecycle(cluster, image, tmp_path, request):
    """With 2 replicas (kopf peering): the active pod deleted while its metric's function is still Pending
    hands over to the other within its grace period, with one function and no stuck finalizer."""
    box, kubectl = cluster, cluster.control_plane.kubectl
    namespace, metrics_ns, slow, logs = two_replicas(box, "pair", image, tmp_path, request)

    apply_metric(box, "first", metrics_ns)
    wait_ready(box, "first", metrics_ns, logs)
    active = next(pod["metadata"]["name"] for pod in pods(box, namespace)
                  if f"[{metrics_ns}/first] Deployed" in operator_log(box, namespace, pod["metadata"]["name"]))

    creates = slow.calls["CreateFunction"]
    apply_metric(box, "mid", metrics_ns)
    eventually(lambda: slow.calls["CreateFunction"] > creates, 60, "the function of mid to be created")
    deleted = time.monotonic()
    kubectl("delete", "pod", "-n", namespace, active, "--wait=true", "--timeout=60s")
    terminated = time.monotonic() - deleted
    assert terminated < 30, f"the pod took {terminated:.1f} s to stop: past its grace period"  # not SIGKILLed
    wait_ready(box, "mid", metrics_ns, logs)
    handed_over = time.monotonic() - deleted
    mid = json.loads(kubectl("get", "am", "mid", "-n", metrics_ns, "-o", "json").stdout)
    assert box.aws.client("lambda").get_function(FunctionName=mid["status"]["functionName"])
    named = functions_of(box, metrics_ns)
    assert len(named) == 2, named  # first and mid, no half-made second one

    print(f"\nactive pod deleted mid-lifecycle: stopped in {terminated:.1f} s, its metric Ready on the other "
          f"replica {handed_over:.1f} s after the delete")
    for name in ("first", "mid"):
        kubectl("delete", "am", name, "-n", metrics_ns, "--timeout=60s")  # no finalizer stuck
    assert not functions_of(box, metrics_ns)
    helm(box, "uninstall", "pair", "-n", namespace, "--wait")


def test_a_rolling_upgrade_to_a_new_tag_while_metrics_are_applied(cluster, image, tmp_path, request):
    """With 2 replicas, `helm upgrade` to a new image tag while metrics are applied: each goes Ready, with
    one function each, no write error in the new pods' logs and no Warning Event."""
    box, kubectl = cluster, cluster.control_plane.kubectl
    namespace, metrics_ns, _, logs = two_replicas(box, "roll", image, tmp_path, request)

    # A rolling upgrade to a new tag, with metrics applied while the pods are replaced.
    repository, _ = image.rsplit(":", 1)
    podman("tag", image, f"{repository}:next")
    archive = box.workdir / "operator-next.tar"
    podman("save", "--output", str(archive), f"{repository}:next")
    box.node.import_image(archive)
    rolled = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        # EKS's webhook gives every new pod its identity; here each render must ask for it again.
        upgrade = pool.submit(box.control_plane.helm, "upgrade", "roll", str(CHART), "-n", namespace,
                              "--reuse-values", "--set", "image.tag=next", "--wait", "--timeout", "180s",
                              "--post-renderer", str(post_renderer(tmp_path)))
        names = [f"roll-{index}" for index in range(6)]
        for name in names:
            apply_metric(box, name, metrics_ns)
            time.sleep(1)
        upgraded_chart = upgrade.result(timeout=240)
    assert upgraded_chart.returncode == 0, upgraded_chart.stderr
    for name in names:
        wait_ready(box, name, metrics_ns, logs)
    upgraded = time.monotonic() - rolled
    # helm's --wait ends when the new pods are Ready; the old ones may still be terminating.
    current = eventually(lambda: (listed := pods(box, namespace)) and {
        pod["spec"]["containers"][0]["image"].rsplit(":", 1)[1] for pod in listed} == {"next"} and listed,
        60, "the old pods to be gone")
    named = functions_of(box, metrics_ns)
    assert len(named) == len(names) == len(set(named)), named  # one function each, no duplicate
    for pod in current:
        log = operator_log(box, namespace, pod["metadata"]["name"])
        assert "Patching failed" not in log and "Traceback" not in log, log[-3000:]
    warnings = [event for event in json.loads(kubectl("get", "events", "-n", metrics_ns, "-o", "json").stdout)["items"]
                if event["type"] == "Warning"]
    assert warnings == [], [event["message"] for event in warnings]
    print(f"\nrolling upgrade with {len(names)} metrics applied: {upgraded:.1f} s to all Ready")
    for name in names:
        kubectl("delete", "am", name, "-n", metrics_ns, "--timeout=60s")  # no finalizer stuck
    assert not functions_of(box, metrics_ns)
    helm(box, "uninstall", "roll", "-n", namespace, "--wait")
