"""podman, as the sandbox runs it: with the repository's containers.conf (runc, and the ulimits this
machine allows) unless CONTAINERS_CONF names another. The image is built with it (scripts/build-image),
and saved from it for the node's containerd."""

import os
import subprocess
from pathlib import Path

CONTAINERS_CONF = Path(__file__).parents[3] / "scripts" / "podman" / "containers.conf"


def podman(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    environment = {**os.environ, "CONTAINERS_CONF": os.environ.get("CONTAINERS_CONF", str(CONTAINERS_CONF))}
    result = subprocess.run(["podman", *args], capture_output=True, text=True, env=environment, check=False)
    if check and result.returncode != 0:
        raise RuntimeError(f"podman {' '.join(args)} failed ({result.returncode}): {result.stderr.strip()}")
    return result
