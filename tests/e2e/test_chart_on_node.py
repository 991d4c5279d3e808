"""The chart installed on the sandbox's real node (sandbox/node.py): the kubelet runs the operator's pod
from the image, with its probes, its ServiceAccount token and IRSA's projected token; `helm test`'s pod
reaches the operator through CoreDNS and kube-proxy. Under CI=true a machine that cannot run a node or
podman fails; elsewhere these tests are skipped.

EKS's pod identity webhook is not served by the Go module proxy, so a helm post-renderer adds to the
Deployment what the webhook adds to its pods (docs/node.md); the kubelet then projects the token and
the operator exchanges it with the emulator's STS.
"""

import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from agreement_operator.sandbox import node
from agreement_operator.sandbox.podman_pod import IRSA_DIR, podman
from agreement_operator.sandbox.session import sandbox

CHART = Path(__file__).parents[2] / "helm" / "agreement-operator"
CODE = "def agreement(annotation_1, annotation_2, per_label=False):\n    return 1.0\n"
TESTS = [{"name": "same", "annotation1": {"result": []}, "annotation2": {"result": []}, "expect": 1.0}]
ROLE = "arn:aws:iam::123456789012:role/LSE_ServiceAccountApp"
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


def test_the_chart_on_a_real_node_runs_the_operator_deploys_a_metric_and_passes_helm_test(cluster, image, tmp_path):
    box, kubectl = cluster, cluster.control_plane.kubectl
    release, namespace, metrics_ns = "node", f"agreement-{uuid.uuid4().hex[:5]}", f"node-{uuid.uuid4().hex[:5]}"
    kubectl("create", "namespace", metrics_ns)
    repository, tag = image.rsplit(":", 1)
    started = time.monotonic()
    helm(box, "install", release, str(CHART), "-n", namespace, "--create-namespace", "--wait", "--timeout", "180s",
         "--post-renderer", str(post_renderer(tmp_path)),
         "--set", "aws.region=us-east-1", "--set-string", "aws.accountId=123456789012",
         "--set", f"aws.endpointUrl={box.aws.endpoint_url}", "--set", f"image.repository={repository}",
         "--set", f"image.tag={tag}", "--set", "image.pullPolicy=Never", "--set", f"watchNamespaces={{{metrics_ns}}}")
    installed = time.monotonic() - started
    deployment = f"{release}-agreement-operator"
    status = json.loads(kubectl("get", "deployment", deployment, "-n", namespace, "-o", "json").stdout)["status"]
    assert status.get("availableReplicas") == 1  # the kubelet found the pod ready through its readiness probe
    pod = json.loads(kubectl("get", "pods", "-n", namespace, "-l", "app.kubernetes.io/name=agreement-operator",
                             "-o", "json").stdout)["items"][0]
    assert pod["spec"]["nodeName"] == node.NODE_NAME
    environment = {item["name"] for item in pod["spec"]["containers"][0]["env"]}
    assert "AWS_ROLE_ARN" in environment and not {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"} & environment

    kubectl("apply", "-f", "-", input=json.dumps({
        "apiVersion": "agreement.dev/v1alpha1", "kind": "AgreementMetric",
        "metadata": {"name": "on-node", "namespace": metrics_ns}, "spec": {"code": CODE, "tests": TESTS}}))
    ready = kubectl("wait", "--for=condition=Ready", "-n", metrics_ns, "am/on-node", "--timeout=120s", check=False)
    logs = kubectl("logs", "-n", namespace, f"deployment/{deployment}", check=False).stdout
    assert ready.returncode == 0, logs[-3000:]
    item = json.loads(kubectl("get", "am", "on-node", "-n", metrics_ns, "-o", "json").stdout)
    assert box.aws.client("lambda").get_function(FunctionName=item["status"]["functionName"])
    assert f"[{metrics_ns}/on-node] Deployed: function" in logs
    # The pod has no keys and nothing else to ask (no route leaves the machine, so no instance metadata):
    # its credentials came from the emulator's STS for the token the kubelet projected, audience STS's.
    claims = kubectl("exec", "-n", namespace, f"deployment/{deployment}", "--", "python", "-c",
                     "import base64, json; part = open('" + IRSA_DIR + "/token').read().split('.')[1]; "
                     "print(json.loads(base64.urlsafe_b64decode(part + '==')))").stdout
    assert "'aud': ['sts.amazonaws.com']" in claims

    # The chart deletes its test pod once it succeeded (hook-succeeded), so helm reports the phase, not logs.
    tested = helm(box, "test", release, "-n", namespace, "--timeout", "120s", check=False)
    assert tested.returncode == 0, tested.stdout + tested.stderr
    assert "Phase:          Succeeded" in tested.stdout
    print(f"\nhelm install --wait on the node: {installed:.1f} s; to helm test passed: "
          f"{time.monotonic() - started:.1f} s")
    kubectl("delete", "am", "on-node", "-n", metrics_ns, "--timeout=60s")
    helm(box, "uninstall", release, "-n", namespace, "--wait")
