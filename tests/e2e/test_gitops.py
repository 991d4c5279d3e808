"""GitOps: the kustomize example deployed from Git-shaped files, and health as Argo CD (its own code:
tools/argocd-health) and Flux (kstatus, its own Go library) compute it, on objects the operator really wrote.
Flux itself, applying from Git: test_flux.py."""

import json
import os
import shutil
import subprocess
import sys
from contextlib import ExitStack
from pathlib import Path

import pytest
import yaml

from agreement_operator.sandbox import operator_process
from agreement_operator.sandbox.processes import free_port
from agreement_operator.sandbox.session import condition_of, sandbox

ROOT = Path(__file__).parents[2]
GITOPS = ROOT / "examples" / "gitops"
ARGOCD_CM = GITOPS / "argocd" / "argocd-cm-patch.yaml"
CUSTOMIZATION = GITOPS / "argocd" / "resource_customizations" / "agreement.dev" / "AgreementMetric"
CACHE = Path(os.environ.get("AGREEMENT_OPERATOR_CACHE", Path.home() / ".cache" / "agreement-operator"))
CODE = "def agreement(annotation_1, annotation_2, per_label=False):\n    return 1.0\n"


def metric(name, namespace, code=CODE):
    return {"apiVersion": "agreement.dev/v1alpha1", "kind": "AgreementMetric",
            "metadata": {"name": name, "namespace": namespace}, "spec": {"code": code}}


def test_argocd_configmap_patch_embeds_health_lua():
    patch = yaml.safe_load(ARGOCD_CM.read_text())
    embedded = patch["data"]["resource.customizations.health.agreement.dev_AgreementMetric"]
    assert embedded == (CUSTOMIZATION / "health.lua").read_text()


def test_kustomize_example_builds_validates_and_deploys(cluster, tmp_path):
    built = cluster.kubectl("kustomize", str(GITOPS / "kustomize")).stdout
    documents = list(yaml.safe_load_all(built))
    configmap = next(d for d in documents if d["kind"] == "ConfigMap")
    am = next(d for d in documents if d["kind"] == "AgreementMetric")
    assert configmap["metadata"]["name"].startswith("sentiment-code-")
    assert am["spec"]["codeFrom"]["configMapKeyRef"]["name"] == configmap["metadata"]["name"]
    assert configmap["data"]["metric.py"] == (GITOPS / "kustomize" / "sentiment.py").read_text()

    (tmp_path / "built.yaml").write_text(built)
    validate = subprocess.run(["agreement-operator", "validate", str(tmp_path / "built.yaml")],
                              capture_output=True, text=True, env={**os.environ, "PATH": _venv_path()})
    assert validate.returncode == 0, validate.stdout + validate.stderr

    for document in documents:
        document["metadata"]["namespace"] = cluster.namespace
    cluster.kubectl("apply", "-f", "-", input=json.dumps({"apiVersion": "v1", "kind": "List", "items": documents}))
    item = cluster.wait("sentiment")
    assert item["status"]["functionName"] == f"custom-metric-gitops-{cluster.namespace}-sentiment"


def _venv_path():
    return f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}"


@pytest.fixture(scope="module")
def written(control_plane_binaries) -> dict:
    """AgreementMetrics in each state, as the operator wrote their status."""
    objects = {}
    with sandbox(with_operator=False, binaries=control_plane_binaries) as box, ExitStack() as stack:
        kubectl = box.control_plane.kubectl

        def get(name):
            return json.loads(kubectl("get", "am", name, "-n", "default", "-o", "json").stdout)

        # Created, and no operator has written it yet: what Flux and Argo CD read first.
        kubectl("apply", "-f", "-", input=json.dumps(metric("fresh", "default")))
        objects["new"] = get("fresh")
        # AWS unreachable: the operator keeps retrying and says so with Reconciling.
        unreachable = {"AWS_ENDPOINT_URL": f"http://127.0.0.1:{free_port()}"}
        first = operator_process.start(box.workdir, stack, box.control_plane, box.aws, unreachable, "op-1.log")
        kubectl("apply", "-f", "-", input=json.dumps(metric("health", "default")))
        kubectl("wait", "--for=condition=Reconciling", "am/health", "-n", "default", "--timeout=90s")
        objects["reconciling"] = get("health")
        first.stop()

        operator_process.start(box.workdir, stack, box.control_plane, box.aws, None, "op-2.log")
        kubectl("wait", "--for=condition=Ready", "am/health", "-n", "default", "--timeout=60s")
        objects["ready"] = get("health")
        kubectl("apply", "-f", "-", input=json.dumps(metric("broken", "default", "def agreement(:\n")))
        kubectl("wait", "--for=condition=Stalled", "am/broken", "-n", "default", "--timeout=60s")
        objects["stalled"] = get("broken")
    # A spec change the operator has not yet observed: its status describes the older generation.
    unobserved = json.loads(json.dumps(objects["ready"]))
    unobserved["metadata"]["generation"] += 1
    objects["unobserved"] = unobserved
    return objects


def test_the_operator_wrote_each_state(written):
    assert written["new"]["status"] == {"observedGeneration": 0}  # the CRD's default: nothing observed yet
    assert condition_of(written["reconciling"], "Reconciling")["reason"] == "AWSUnreachable"
    assert condition_of(written["ready"], "Ready")["status"] == "True"
    assert condition_of(written["stalled"], "Stalled")["reason"] == "InvalidCode"


def go_tool(script: str, what: str) -> Path:
    """The binary a build script of scripts/ prints; a skip on a machine without Go, and a failure in CI."""
    built = subprocess.run([str(ROOT / "scripts" / script), "--if-go"], capture_output=True, text=True)
    assert built.returncode == 0, built.stderr[-3000:]
    if not built.stdout.strip():
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI requires {what}, which needs Go to build: {built.stderr}")
        pytest.skip(f"{what} skipped: Go is not installed")
    return Path(built.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def argocd_health_tool() -> Path:
    return go_tool("argocd-health", "the Argo CD health check")


def argocd_health(tool: Path, objects: list[dict]) -> list[tuple[str, str]]:
    """Argo CD's verdict on each object: our argocd-cm, read by Argo CD's settings manager, its Lua sandbox."""
    result = subprocess.run([str(tool), str(ARGOCD_CM)], input=json.dumps(objects), capture_output=True, text=True,
                            check=True)
    return [tuple(line.split("\t", 1)) for line in result.stdout.splitlines()]


def test_argocd_health_test_cases_pass_in_argocd_s_own_code(argocd_health_tool):
    """health_test.yaml as Argo CD's own resource_customizations tests run it: each case's status and message."""
    cases = yaml.safe_load((CUSTOMIZATION / "health_test.yaml").read_text())["tests"]
    objects = [yaml.safe_load((CUSTOMIZATION / case["inputPath"]).read_text()) for case in cases]
    verdicts = argocd_health(argocd_health_tool, objects)
    assert verdicts == [(case["healthStatus"]["status"], case["healthStatus"]["message"]) for case in cases]


def test_argocd_health_testdata_is_what_the_operator_writes_today(written):
    """Each testdata object carries the conditions (type, status, reason) the operator writes now in that state."""
    def shape(item: dict) -> list:
        status = item.get("status", {})
        return [status.get("observedGeneration"), item["metadata"]["generation"]] + \
            [(c["type"], c["status"], c["reason"]) for c in status.get("conditions", [])]

    for state, fresh in written.items():
        kept = yaml.safe_load((CUSTOMIZATION / "testdata" / f"{state}.yaml").read_text())
        assert shape(kept) == shape(fresh), state


@pytest.mark.parametrize(("state", "health"), [
    ("ready", "Healthy"), ("stalled", "Degraded"), ("reconciling", "Progressing"), ("unobserved", "Progressing"),
    ("new", "Progressing"),
])
def test_argocd_health(written, argocd_health_tool, state, health):
    [(status, message)] = argocd_health(argocd_health_tool, [written[state]])
    assert status == health
    if state == "stalled":
        assert message.startswith("InvalidCode: line 1: syntax error")
    if state == "unobserved":
        assert "observe generation 2" in message


@pytest.fixture(scope="module")
def kstatus_tool() -> Path:
    binary = CACHE / "kstatus-tool" / "kstatus"
    source = ROOT / "tools" / "kstatus"
    if not binary.exists() or binary.stat().st_mtime < max(p.stat().st_mtime for p in source.iterdir()):
        if shutil.which("go") is None:
            if os.environ.get("CI") == "true":
                pytest.fail("CI requires the kstatus check, which needs Go to build tools/kstatus")
            pytest.skip("kstatus check skipped: Go is not installed to build tools/kstatus")
        binary.parent.mkdir(parents=True, exist_ok=True)
        built = subprocess.run(["go", "build", "-o", str(binary), "."], cwd=source, capture_output=True, text=True,
                               env={**os.environ, "GOFLAGS": "-mod=mod"})
        assert built.returncode == 0, built.stderr
    return binary


@pytest.mark.parametrize(("state", "verdict"), [
    ("ready", "Current"), ("stalled", "Failed"), ("reconciling", "InProgress"), ("unobserved", "InProgress"),
    # Regression: a metric not yet written had no status, which kstatus reads as Current, so Flux's health
    # check passed before anything was deployed.
    ("new", "InProgress"),
])
def test_kstatus_library_verdict(written, kstatus_tool, state, verdict):
    result = subprocess.run([str(kstatus_tool)], input=json.dumps([written[state]]), capture_output=True,
                            text=True, check=True)
    assert result.stdout.split("\t")[0] == verdict, result.stdout
