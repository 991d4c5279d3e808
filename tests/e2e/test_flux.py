"""GitOps by Flux's own controllers (scripts/flux-binaries): source-controller clones a Git repository served on
loopback, kustomize-controller applies the shipped kustomize example server-side, waits on its health with
kstatus and prunes. The apiserver has the CRD and the operator and nothing else; Lambda keeps each new function
Pending for a few seconds, as it does. The scenarios run in order, one commit each, on one repository."""

import json
import time
from contextlib import ExitStack
from pathlib import Path

import pytest
import yaml

from agreement_operator.sandbox import flux as flux_sandbox
from agreement_operator.sandbox import operator_process
from agreement_operator.sandbox.git_server import WorkingCopy
from agreement_operator.sandbox.processes import StartupFailed, eventually
from agreement_operator.sandbox.session import condition_of, sandbox

ROOT = Path(__file__).parents[2]
KUSTOMIZE = Path("examples") / "gitops" / "kustomize"
METRIC_CODE = KUSTOMIZE / "sentiment.py"
NAMESPACE = "labeling"  # the example's
FUNCTION = "custom-metric-gitops-labeling-sentiment"
LARGEST_CODE = 262_144  # characters: the CRD's maxLength of spec.code


@pytest.fixture(scope="module")
def flux_binaries() -> Path:
    try:
        return flux_sandbox.binaries()
    except StartupFailed as error:  # never a skip: this tier runs wherever the control plane does
        pytest.fail(f"the Flux tier needs Flux's controllers: {error}")


@pytest.fixture(scope="module")
def flux(box, operator, flux_binaries):
    with ExitStack() as stack:
        yield flux_sandbox.start(box.workdir, stack, box.control_plane, flux_binaries)


@pytest.fixture(scope="module")
def repo(box, flux) -> WorkingCopy:
    """A Git repository holding the kustomize example where the shipped Kustomization looks for it."""
    copy = WorkingCopy(flux.git.create("agreement-metrics"), box.workdir / "agreement-metrics")
    copy.commit("the kustomize example", {str(KUSTOMIZE / path.name): path.read_text()
                                          for path in sorted((ROOT / KUSTOMIZE).iterdir())})
    return copy


@pytest.fixture(scope="module")
def lifecycle(box):
    front = box.aws.front
    before = front.lifecycle.pending_seconds
    yield front.lifecycle
    front.lifecycle.pending_seconds = before


class Watch:
    """Reads the Kustomization and the example's metrics in one kubectl call, the Kustomization first: when it
    says Ready, the metrics read after it show what Flux let through."""

    def __init__(self, box) -> None:
        self.kubectl = box.control_plane.kubectl

    def read(self) -> tuple[dict, dict[str, dict]]:
        listed = json.loads(self.kubectl(
            "get", "kustomizations.kustomize.toolkit.fluxcd.io/agreement-metrics", "-n", "flux-system", "-o", "json",
        ).stdout)
        metrics = json.loads(self.kubectl("get", "agreementmetrics", "-n", NAMESPACE, "-o", "json",
                                          check=False).stdout or '{"items": []}')["items"]
        return listed, {item["metadata"]["name"]: item for item in metrics}

    def ready_at(self, revision: str, timeout: float = 120) -> tuple[dict, dict[str, dict], list[str]]:
        """Polls until Flux has applied `revision` and says Ready; what it read then, and every Ready reason
        seen on the way."""
        seen: list[str] = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            kustomization, metrics = self.read()
            ready = condition_of(kustomization, "Ready")
            seen.append(f"{ready.get('status')}/{ready.get('reason')}")
            if kustomization.get("status", {}).get("lastAppliedRevision", "").endswith(revision) and \
                    ready.get("status") == "True":
                return kustomization, metrics, seen
            time.sleep(0.1)
        raise AssertionError(f"Flux not Ready at {revision} within {timeout} s: {self.read()[0].get('status')}")


def assert_deployed_when_flux_said_ready(box, kustomization: dict, metric: dict) -> None:
    ready = condition_of(metric, "Ready")
    assert ready.get("status") == "True" and metric["status"]["observedGeneration"] == \
        metric["metadata"]["generation"], f"Flux said Ready while the metric said {metric.get('status')}"
    assert condition_of(kustomization, "Ready")["lastTransitionTime"] >= ready["lastTransitionTime"]
    deployed = box.aws.function(metric["status"]["functionName"])
    assert deployed is not None and deployed["State"] == "Active"
    assert deployed["CodeSha256"] == metric["status"]["codeSha256"]


def test_the_shipped_example_goes_ready_only_once_its_metric_is_deployed(box, flux, repo, lifecycle):
    lifecycle.pending_seconds = 4.0
    box.control_plane.kubectl("apply", "-f", "-", input=flux_sandbox.shipped_example(repo.url))
    revision = repo.head()
    kustomization, metrics, seen = Watch(box).ready_at(revision)
    assert_deployed_when_flux_said_ready(box, kustomization, metrics["sentiment"])
    assert box.aws.function(FUNCTION)["Tags"]["source"] == "git"
    assert any(not state.startswith("True") for state in seen), seen  # it was seen waiting, not Ready at once


def test_a_commit_that_edits_the_code_deploys_it_and_prunes_the_old_configmap(box, flux, repo, lifecycle):
    lifecycle.pending_seconds = 2.0
    before = Watch(box).read()[1]["sentiment"]
    old_configmap = before["spec"]["codeFrom"]["configMapKeyRef"]["name"]
    code = (ROOT / METRIC_CODE).read_text() + "\n# reviewed\n"
    revision = repo.commit("edit the metric", {str(METRIC_CODE): code})
    kustomization, metrics, _ = Watch(box).ready_at(revision)
    after = metrics["sentiment"]
    assert_deployed_when_flux_said_ready(box, kustomization, after)
    assert after["status"]["codeSha256"] != before["status"]["codeSha256"]
    assert after["spec"]["codeFrom"]["configMapKeyRef"]["name"] != old_configmap
    configmaps = box.control_plane.kubectl("get", "configmaps", "-n", NAMESPACE, "-o", "name").stdout.split()
    assert f"configmap/{old_configmap}" not in configmaps, configmaps


def test_a_broken_commit_fails_fast_naming_the_metric_then_a_fix_waits_for_pending(box, flux, repo, lifecycle,
                                                                                 capsys):
    broken = repo.commit("break the metric", {str(METRIC_CODE): "def agreement(:\n"})
    started = time.monotonic()

    def failed():
        kustomization = Watch(box).read()[0]
        ready = condition_of(kustomization, "Ready")
        applied = kustomization.get("status", {}).get("lastAttemptedRevision", "").endswith(broken)
        return applied and ready.get("status") == "False" and ready

    ready = eventually(failed, 120, "Flux to fail on the broken commit", every=0.1)
    elapsed = time.monotonic() - started
    assert "AgreementMetric/labeling/sentiment" in ready["message"] and "stalled" in ready["message"], ready
    lifecycle.pending_seconds = 8.0  # the fix's function stays Pending a while: Flux must wait it out
    fixed = repo.commit("fix the metric", {str(METRIC_CODE): (ROOT / METRIC_CODE).read_text()})
    kustomization, metrics, seen = Watch(box).ready_at(fixed)
    assert_deployed_when_flux_said_ready(box, kustomization, metrics["sentiment"])
    assert any(not state.startswith("True") for state in seen), seen
    with capsys.disabled():
        print(f"\nFlux: the broken commit was reported {elapsed:.1f} s after the push")


def test_a_metric_as_large_as_the_crd_allows_applies_through_flux(box, flux, repo, lifecycle):
    lifecycle.pending_seconds = 1.0
    body = "def agreement(annotation_1, annotation_2, per_label=False):\n    return 1.0\n"
    code = body + "#" * (LARGEST_CODE - len(body) - 1) + "\n"
    large = {"apiVersion": "agreement.dev/v1alpha1", "kind": "AgreementMetric", "metadata": {"name": "large"},
             "spec": {"code": code, "prefix": "gitops", "deletionPolicy": "Retain"}}
    kustomization = yaml.safe_load((ROOT / KUSTOMIZE / "kustomization.yaml").read_text())
    kustomization["resources"].append("large.yaml")
    revision = repo.commit("a large metric", {str(KUSTOMIZE / "large.yaml"): yaml.safe_dump(large, width=1 << 30),
                                              str(KUSTOMIZE / "kustomization.yaml"): yaml.safe_dump(kustomization)})
    flux_status, metrics, _ = Watch(box).ready_at(revision)
    assert len(metrics["large"]["spec"]["code"]) == LARGEST_CODE
    assert_deployed_when_flux_said_ready(box, flux_status, metrics["large"])


def test_a_commit_that_removes_metrics_prunes_them_and_their_functions_unless_retained(box, flux, repo):
    kustomization = yaml.safe_load((repo.path / KUSTOMIZE / "kustomization.yaml").read_text())
    kustomization["resources"] = []
    revision = repo.commit("remove the metrics", {str(KUSTOMIZE / "metric.yaml"): None,
                                                  str(KUSTOMIZE / "large.yaml"): None,
                                                  str(KUSTOMIZE / "kustomization.yaml"): yaml.safe_dump(kustomization)})
    Watch(box).ready_at(revision)
    eventually(lambda: not Watch(box).read()[1], 60, "the metrics to be pruned")
    eventually(lambda: box.aws.function(FUNCTION) is None, 60, "the Delete metric's function to be deleted")
    assert box.aws.function("custom-metric-gitops-labeling-large") is not None  # deletionPolicy: Retain


PLATFORM = """\
apiVersion: source.toolkit.fluxcd.io/v1
kind: GitRepository
metadata: {{name: platform, namespace: flux-system}}
spec: {{interval: 2s, url: "{url}", ref: {{branch: main}}}}
---
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata: {{name: platform, namespace: flux-system}}
spec: {{interval: 1m, sourceRef: {{kind: GitRepository, name: platform}}, path: ./, prune: true, wait: true,
       timeout: 3m}}
"""


def test_one_kustomization_with_the_crd_and_a_metric_establishes_the_crd_first(control_plane_binaries,
                                                                              flux_binaries):
    """A cluster with no CRD and an operator waiting for it: one commit carries the CRD, a namespace and a
    metric. Flux applies the CRD first (its staged apply), waits for it, then the rest."""
    with sandbox(with_operator=False, with_crd=False, binaries=control_plane_binaries) as bare, ExitStack() as stack:
        operator_process.start(bare.workdir, stack, bare.control_plane, bare.aws, ready=False)
        own_flux = flux_sandbox.start(bare.workdir, stack, bare.control_plane, flux_binaries)
        copy = WorkingCopy(own_flux.git.create("platform"), bare.workdir / "platform")
        metric = {"apiVersion": "agreement.dev/v1alpha1", "kind": "AgreementMetric",
                  "metadata": {"name": "first", "namespace": "team"},
                  "spec": {"code": "def agreement(annotation_1, annotation_2, per_label=False):\n    return 1.0\n"}}
        revision = copy.commit("the CRD and a metric", {
            "crds/agreementmetrics.yaml": (ROOT / "crds" / "agreementmetrics.yaml").read_text(),
            "team.yaml": yaml.safe_dump({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team"}}) +
            "---\n" + yaml.safe_dump(metric),
            "kustomization.yaml": yaml.safe_dump({"resources": ["crds/agreementmetrics.yaml", "team.yaml"]}),
        })
        bare.control_plane.kubectl("apply", "-f", "-", input=PLATFORM.format(url=copy.url))

        def ready():
            listed = json.loads(bare.control_plane.kubectl(
                "get", "kustomizations.kustomize.toolkit.fluxcd.io/platform", "-n", "flux-system", "-o", "json").stdout)
            return listed.get("status", {}).get("lastAppliedRevision", "").endswith(revision) and \
                condition_of(listed, "Ready").get("status") == "True"

        eventually(ready, 180, "Flux to apply the CRD and the metric")
        item = json.loads(bare.control_plane.kubectl("get", "am", "first", "-n", "team", "-o", "json").stdout)
        assert condition_of(item, "Ready")["status"] == "True"
        assert bare.aws.function(item["status"]["functionName"]) is not None
