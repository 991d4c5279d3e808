"""Flux's own controllers (scripts/flux-binaries) as processes against the sandbox's apiserver, with a Git
server on loopback they clone from: GitOps as Flux does it, with no cluster to run Flux's pods in."""

import os
import subprocess
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import yaml

from agreement_operator.sandbox.control_plane import ControlPlane, repository
from agreement_operator.sandbox.git_server import GitServer, WorkingCopy
from agreement_operator.sandbox.processes import Child, StartupFailed, free_port, http_get

NAMESPACE = "flux-system"
EXAMPLE = Path("examples") / "gitops" / "flux" / "kustomization.yaml"
KUSTOMIZE = Path("examples") / "gitops" / "kustomize"  # where EXAMPLE looks in its repository
CONTROLLERS = ("source-controller", "kustomize-controller", "helm-controller")


def binaries() -> Path:
    """Where scripts/flux-binaries cached Flux's controllers and CRDs (it builds them the first time)."""
    built = subprocess.run([str(repository() / "scripts" / "flux-binaries")], capture_output=True, text=True)
    if built.returncode != 0:
        raise StartupFailed(f"scripts/flux-binaries failed:\n{built.stderr[-3000:]}")
    return Path(built.stdout.strip().splitlines()[-1])


@dataclass
class Flux:
    """Flux's controllers, running until the stack given to start() closes, and the Git server they clone from."""

    git: GitServer


def start(workdir: Path, stack: ExitStack, control_plane: ControlPlane, built: Path | None = None) -> Flux:
    """Flux's CRDs installed, namespace flux-system, its controllers running (stopped with `stack`) and a Git
    server of our own; each controller logs to workdir/<name>.log."""
    built = built or binaries()
    control_plane.apply_crds(built / "crds")
    namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}}
    control_plane.kubectl("apply", "-f", "-", input=yaml.safe_dump(namespace))
    git = GitServer(workdir / "git")
    stack.callback(git.stop)
    storage, artifacts = free_port(), workdir / "flux-artifacts"
    artifacts.mkdir(exist_ok=True)
    extra = {"source-controller": [
        f"--storage-path={artifacts}", f"--storage-addr=127.0.0.1:{storage}",
        # kustomize-controller and helm-controller download each revision from this address.
        f"--storage-adv-addr=127.0.0.1:{storage}",
    ]}
    for name in CONTROLLERS:
        stack.callback(_controller(name, [str(built / name), *extra.get(name, [])], workdir, control_plane).stop)
    return Flux(git)


def _controller(name: str, argv: list[str], workdir: Path, control_plane: ControlPlane) -> Child:
    """One controller, ready, on free loopback ports, logging to workdir/<name>.log."""
    health = free_port()
    child = Child(name, [
        *argv, f"--metrics-addr=127.0.0.1:{free_port()}", f"--health-addr=127.0.0.1:{health}", "--log-level=debug",
    ], workdir / f"{name}.log", env={
        "PATH": os.environ.get("PATH", os.defpath), "HOME": str(workdir),
        "KUBECONFIG": str(control_plane.kubeconfig), "RUNTIME_NAMESPACE": NAMESPACE,
    })
    try:
        child.wait_until(lambda: http_get(f"http://127.0.0.1:{health}/readyz") is not None, 60, "ready")
    except StartupFailed:
        child.stop()
        raise
    return child


def playground(workdir: Path, flux: Flux, control_plane: ControlPlane) -> tuple[str, str]:
    """A Git repository on the Git server, holding the kustomize example where the shipped Kustomization looks
    for it, and that Kustomization applied: what `agreement-operator dev --flux` offers. (Its URL, the
    Kustomization's manifest.)"""
    seed = WorkingCopy(flux.git.create("agreement-metrics"), workdir / "agreement-metrics-seed")
    folder = repository() / KUSTOMIZE
    seed.commit("the kustomize example", {str(KUSTOMIZE / path.name): path.read_text()
                                          for path in sorted(folder.iterdir())})
    manifest = shipped_example(seed.url)
    control_plane.kubectl("apply", "-f", "-", input=manifest)
    return seed.url, manifest


def shipped_example(url: str, source_interval: str = "2s", interval: str = "1m") -> str:
    """examples/gitops/flux/kustomization.yaml as shipped, with only its Git URL and intervals changed."""
    documents = list(yaml.safe_load_all((repository() / EXAMPLE).read_text()))
    for document in documents:
        if document["kind"] == "GitRepository":
            document["spec"].update(url=url, interval=source_interval)
        elif document["kind"] == "Kustomization":
            document["spec"]["interval"] = interval
    return yaml.safe_dump_all(documents, sort_keys=False)
