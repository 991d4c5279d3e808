"""The container image, built from the Dockerfile with podman: its user, its read-only root, what it leaves
out. The chart's pod runs from it on the sandbox's real node (test_chart_on_node.py). Required under
CI=true; elsewhere, without podman or root, skipped with a notice.

The image is built by scripts/build-image (a local Debian base stands in for python:3.12-slim
when no registry answers).
"""

import json
import subprocess

from agreement_operator import __version__
from agreement_operator.sandbox.podman import podman


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
    assert run(image, "--version").stdout.strip() == f"agreement-operator {__version__}"
    inside = run(image, "-c", "id -u; id -g; touch /probe 2>&1; python -c 'import agreement_operator.sandbox'",
                 entrypoint="sh")
    assert inside.stdout.splitlines()[:2] == ["10001", "10001"]
    assert "Read-only file system" in inside.stdout
    assert "No module named 'agreement_operator.sandbox'" in inside.stderr  # development tooling stays out
    unconfigured = run(image, "run")
    assert unconfigured.returncode == 2 and "configuration error" in unconfigured.stderr
