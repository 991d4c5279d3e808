"""The operator image: build time cold and warm, its size, and what takes the space.

    .venv/bin/python benchmarks/image.py            # warm: the podman storage and base cache in place
    .venv/bin/python benchmarks/image.py --cold     # also a cold build: empty storage and cache (~2 min)

Cold builds use a podman storage and a base-image cache of their own (temporary), so nothing
already on the machine helps: debootstrap, the base import, pip downloading every dependency.
The time from container start to the first metric Ready is printed by the image test tier:
    .venv/bin/python -m pytest -s tests/e2e/test_image.py
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).parents[1]
CONTAINERS_CONF = ROOT / "scripts" / "podman" / "containers.conf"


def build(env: dict[str, str]) -> tuple[float, str]:
    started = time.monotonic()
    result = subprocess.run([str(ROOT / "scripts" / "build-image")], capture_output=True, text=True, env=env)
    if result.returncode != 0:
        sys.exit(f"build failed: {result.stderr[-2000:]}")
    return time.monotonic() - started, result.stdout.strip().splitlines()[-1]


def podman(env: dict[str, str], *args: str) -> str:
    return subprocess.run(["podman", *args], capture_output=True, text=True, env=env, check=True).stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cold", action="store_true", help="also build with empty podman storage and cache")
    args = parser.parse_args()
    env = {**os.environ, "CONTAINERS_CONF": os.environ.get("CONTAINERS_CONF", str(CONTAINERS_CONF))}
    if args.cold:
        with tempfile.TemporaryDirectory(prefix="image-cold-") as scratch:
            storage = Path(scratch) / "storage.conf"
            storage.write_text(f'[storage]\ndriver = "overlay"\ngraphroot = "{scratch}/graph"\n'
                               f'runroot = "{scratch}/run"\n')
            cold = {**env, "CONTAINERS_STORAGE_CONF": str(storage), "AGREEMENT_OPERATOR_CACHE": f"{scratch}/cache"}
            seconds, _ = build(cold)
            print(f"cold build (debootstrap, base import, every layer): {seconds:.1f} s")
            subprocess.run(["podman", "system", "reset", "--force"], env=cold, capture_output=True, check=False)
    build(env)  # the layers of this checkout in place
    seconds, image = build(env)
    print(f"warm build (nothing changed): {seconds:.1f} s")
    size = json.loads(podman(env, "image", "inspect", image))[0]["Size"]
    base = podman(env, "image", "inspect", "--format", "{{.Size}}", "localhost/agreement-operator-base:bookworm")
    print(f"image {image}: {size / 1e6:.0f} MB (the local Debian base: {int(base) / 1e6:.0f} MB)")
    for title, paths in (("the image", "/opt/agreement-operator /usr/share /usr/lib/x86_64-linux-gnu /usr/lib/python3* "
                                         "/usr/bin /var"),
                         ("the operator's venv", "/opt/agreement-operator/lib/python3*/site-packages/*")):
        usage = podman(env, "run", "--rm", "--entrypoint", "sh", image, "-c",
                       f"du -sk {paths} 2>/dev/null | sort -rn | head -8")
        print(f"biggest contributors to {title} (du, KiB):")
        for line in usage.splitlines():
            print(f"  {line}")


if __name__ == "__main__":
    main()
