"""The end-to-end tier: a real kube-apiserver and etcd, moto's AWS server, the operator as a process.

In CI (CI=true) this tier is required: if the control plane cannot start, the run fails
with the reason. Elsewhere, a machine without Go (and without KUBEBUILDER_ASSETS) skips
it with a notice.
"""

import json
import os
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import pytest

from agreement_operator.sandbox import operator_process
from agreement_operator.sandbox.control_plane import binaries_dir
from agreement_operator.sandbox.processes import StartupFailed, eventually
from agreement_operator.sandbox.session import Sandbox, condition_of, sandbox

ROOT = Path(__file__).parents[2]
RESYNC_SECONDS = 3
FUNCTION_ERRORS_SECONDS = 2


@pytest.fixture(scope="session")
def control_plane_binaries() -> Path:
    try:
        return binaries_dir()
    except StartupFailed as error:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI requires the end-to-end tier, but the control plane is unavailable: {error}")
        pytest.skip(f"end-to-end tier skipped: {error} (install Go or set KUBEBUILDER_ASSETS to run it)")


def _image_unavailable() -> str | None:
    if shutil.which("podman") is None:
        return "podman is not installed (apt-get install podman buildah runc debootstrap)"
    if os.geteuid() != 0:
        return "podman needs root here (rootless podman lacks the kernel features on this machine)"
    return None


@pytest.fixture(scope="session")
def image() -> str:
    if problem := _image_unavailable():
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI requires the image tier, but {problem}")
        pytest.skip(f"image tier skipped: {problem}")
    started = time.monotonic()
    built = subprocess.run([str(ROOT / "scripts" / "build-image")], capture_output=True, text=True, timeout=1800)
    assert built.returncode == 0, built.stderr[-3000:]
    name = built.stdout.strip().splitlines()[-1]
    print(f"\nimage {name} built in {time.monotonic() - started:.1f} s")
    return name


@pytest.fixture(scope="session")
def box(control_plane_binaries) -> Sandbox:
    # Always our Label Studio API server: the tests inject its faults and count its requests.
    with sandbox(with_operator=False, binaries=control_plane_binaries, local_label_studio=True) as running:
        yield running


class Operator:
    """The operator process of the session, which a test may restart."""

    def __init__(self, box: Sandbox) -> None:
        self.box = box
        self.starts = 0
        self._stack = ExitStack()
        self.process = self._start()

    def _start(self):
        self.starts += 1
        return operator_process.start(
            self.box.workdir, self._stack, self.box.control_plane, self.box.aws,
            {"AGREEMENT_OPERATOR_RESYNC_SECONDS": str(RESYNC_SECONDS),
             "AGREEMENT_OPERATOR_FUNCTION_ERRORS_SECONDS": str(FUNCTION_ERRORS_SECONDS),
             **self.box.label_studio_environment},
            log_name=f"operator-{self.starts}.log",
        )

    def restart(self) -> None:
        self.process.stop()
        self.process = self._start()

    def kill_and_restart(self) -> None:
        """SIGKILL, as the kernel's OOM killer or a lost node would: no cleanup, no graceful stop."""
        self.process.process.kill()
        self.process.process.wait()
        self.process = self._start()

    @contextmanager
    def paused(self) -> Iterator[None]:
        """Stopped for a test that runs an operator of its own (two would both handle every metric)."""
        self.process.stop()
        try:
            yield
        finally:
            self.process = self._start()

    def stop(self) -> None:
        self._stack.close()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    """A failed test that used the session operator shows what the operator was doing: CI keeps no
    sandbox (its folder goes with the session), so the report carries the operator's last lines and the
    metrics the cluster held."""
    report = yield
    running = item.funcargs.get("operator") if hasattr(item, "funcargs") else None
    if report.failed and call.when == "call" and isinstance(running, Operator):
        report.sections.append(("session operator log (last lines)", running.process.log_tail(20000)))
        listed = running.box.control_plane.kubectl("get", "am", "-A", "--no-headers", check=False)
        report.sections.append(("AgreementMetrics in the cluster", listed.stdout or listed.stderr))
    return report


@pytest.fixture(scope="session")
def resync_seconds() -> float:
    """The session operator's resync interval."""
    return RESYNC_SECONDS


@pytest.fixture(scope="session")
def operator(box) -> Operator:
    running = Operator(box)
    yield running
    running.stop()


class Cluster:
    """kubectl and AWS helpers for one test namespace."""

    def __init__(self, box: Sandbox, namespace: str) -> None:
        self.box = box
        self.namespace = namespace
        self.lam = box.aws.client("lambda")

    def kubectl(self, *args, **kwargs):
        return self.box.control_plane.kubectl(*args, **kwargs)

    def apply(self, name: str, spec: dict, namespace: str | None = None, annotations: dict | None = None) -> None:
        manifest = {"apiVersion": "agreement.dev/v1alpha1", "kind": "AgreementMetric",
                    "metadata": {"name": name, "namespace": namespace or self.namespace,
                                 "annotations": annotations or {}},
                    "spec": spec}
        self.kubectl("apply", "-f", "-", input=json.dumps(manifest))

    def get(self, name: str, namespace: str | None = None) -> dict:
        return json.loads(self.kubectl("get", "am", name, "-n", namespace or self.namespace, "-o", "json").stdout)

    def wait(self, name: str, condition: str = "Ready", timeout: int = 60, namespace: str | None = None) -> dict:
        result = self.kubectl("wait", f"--for=condition={condition}", f"--timeout={timeout}s",
                              "-n", namespace or self.namespace, f"am/{name}", check=False)
        assert result.returncode == 0, f"{name} not {condition}: {result.stderr}\n{self.get(name, namespace)}"
        return self.get(name, namespace)

    def wait_observed(self, name: str, generation: int, timeout: float = 60) -> dict:
        return self.eventually(lambda: self._observed(name, generation), timeout, f"{name} to observe {generation}")

    def _observed(self, name, generation):
        item = self.get(name)
        return item if item.get("status", {}).get("observedGeneration") == generation else None

    def function(self, name: str) -> dict | None:
        return self.box.aws.function(name)

    def events(self, name: str) -> list[dict]:
        result = self.kubectl("get", "events", "-n", self.namespace, "-o", "json",
                              "--field-selector", f"involvedObject.name={name}")
        return json.loads(result.stdout)["items"]

    condition = staticmethod(condition_of)
    eventually = staticmethod(eventually)


@pytest.fixture
def cluster(box, operator) -> Cluster:
    namespace = f"e2e-{uuid.uuid4().hex[:6]}"
    box.control_plane.kubectl("create", "namespace", namespace)
    return Cluster(box, namespace)
