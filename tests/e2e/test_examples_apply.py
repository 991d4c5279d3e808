"""Every example applies with `kubectl apply --dry-run=server`, which Argo CD and Flux run before they apply:
against a real apiserver with our CRD and Flux's and Argo CD's own CRDs (from their Go modules)."""

import json
import subprocess
from pathlib import Path

import pytest

from agreement_operator.sandbox import flux as flux_sandbox
from agreement_operator.sandbox.processes import StartupFailed
from agreement_operator.sandbox.session import sandbox

ROOT = Path(__file__).parents[2]
EXAMPLES = ROOT / "examples"
MANIFESTS = sorted([*EXAMPLES.glob("*.yaml"), *EXAMPLES.glob("metrics/*.yaml"),
                    *(EXAMPLES / "gitops" / "flux").glob("*.yaml"),
                    EXAMPLES / "gitops" / "argocd" / "application.yaml"])


@pytest.fixture(scope="module")
def plane(control_plane_binaries):
    """An apiserver with every CRD the examples use, and the namespaces they name: Argo CD's and Flux's own (made
    by their installs), and those the examples create themselves (a dry run creates nothing, so the objects
    after a Namespace would not find it)."""
    try:
        flux_crds = flux_sandbox.binaries() / "crds"
    except StartupFailed as error:
        pytest.fail(f"the examples' dry run needs Flux's CRDs: {error}")
    built = subprocess.run([str(ROOT / "scripts" / "argocd-health")], capture_output=True, text=True)
    assert built.returncode == 0, built.stderr[-3000:]
    argocd_crds = Path(built.stdout.strip().splitlines()[-1]).parent / "crds"
    with sandbox(with_operator=False, binaries=control_plane_binaries) as box:
        kubectl = box.control_plane.kubectl
        for crds in (flux_crds, argocd_crds):
            box.control_plane.apply_crds(crds)
        for namespace in ("flux-system", "argocd", "labeling", "agreement-system"):
            kubectl("create", "namespace", namespace)
        yield box.control_plane


@pytest.mark.parametrize("path", MANIFESTS, ids=lambda path: str(path.relative_to(EXAMPLES)))
def test_each_example_applies_with_a_server_side_dry_run(plane, path):
    result = plane.kubectl("apply", "--dry-run=server", "-f", str(path), check=False)
    assert result.returncode == 0, result.stderr


def test_the_kustomize_example_applies_with_a_server_side_dry_run(plane):
    result = plane.kubectl("apply", "--dry-run=server", "--server-side", "-k",
                           str(EXAMPLES / "gitops" / "kustomize"), check=False)
    assert result.returncode == 0, result.stderr


def test_the_argocd_configmap_patch_applies_to_argocd_cm_with_a_server_side_dry_run(plane):
    plane.kubectl("create", "configmap", "argocd-cm", "-n", "argocd")
    result = plane.kubectl("patch", "configmap", "argocd-cm", "-n", "argocd", "--type", "merge", "--dry-run=server",
                           "--patch-file", str(EXAMPLES / "gitops" / "argocd" / "argocd-cm-patch.yaml"), "-o", "json",
                           check=False)
    assert result.returncode == 0, result.stderr
    assert "resource.customizations.health.agreement.dev_AgreementMetric" in json.loads(result.stdout)["data"]
