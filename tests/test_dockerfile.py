"""The Dockerfile, proven without a container engine: its structure, and its build steps
run for real into a clean virtualenv whose entrypoint then starts."""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from agreement_operator import __version__

ROOT = Path(__file__).parent.parent


def instructions(text: str) -> list[tuple[str, str]]:
    joined = re.sub(r"\\\n", " ", text)
    result = []
    for line in joined.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            result.append((keyword.upper(), rest.strip()))
    return result


@pytest.fixture(scope="module")
def stages() -> list[list[tuple[str, str]]]:
    parsed, current = [], None
    for keyword, rest in instructions((ROOT / "Dockerfile").read_text()):
        if keyword == "FROM":
            current = [(keyword, rest)]
            parsed.append(current)
        elif current is not None:
            current.append((keyword, rest))
    return parsed


def test_multi_stage_with_a_pinned_slim_base(stages):
    assert len(stages) == 2
    base = re.search(r"ARG PYTHON_IMAGE=(\S+)", (ROOT / "Dockerfile").read_text()).group(1)
    assert re.fullmatch(r"python:3\.12\.\d+-slim-bookworm", base), base
    assert all(stage[0][1].startswith("${PYTHON_IMAGE}") for stage in stages)


def test_final_stage_runs_the_operator_as_a_fixed_non_root_user_without_build_tools(stages):
    final = stages[-1]
    assert ("USER", "10001:10001") in final
    assert ("ENTRYPOINT", '["agreement-operator"]') in final
    assert ("CMD", '["run"]') in final
    assert ("COPY", "--from=build /opt/agreement-operator /opt/agreement-operator") in final
    runs = " ".join(rest for keyword, rest in final if keyword == "RUN")
    for tool in ("pip", "apt-get", "gcc", "build-essential", "wheel"):
        assert tool not in runs


def test_dockerignore_sends_only_what_the_build_copies():
    lines = (ROOT / ".dockerignore").read_text().split()
    assert lines[:4] == ["*", "!pyproject.toml", "!README.md", "!operator/"]


@pytest.mark.slow
def test_the_build_steps_install_a_working_entrypoint(stages, tmp_path):
    """Run the build stage's COPY and RUN steps (with paths under tmp_path) and start the result."""
    build = stages[0]
    context = tmp_path / "src"
    context.mkdir()
    for keyword, rest in build:
        if keyword == "COPY":
            *sources, _ = rest.split()
            for source in sources:
                if (ROOT / source).is_dir():
                    shutil.copytree(ROOT / source, context / source,
                                    ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
                else:
                    shutil.copy(ROOT / source, context / source)
    venv = tmp_path / "venv"
    (run,) = [rest for keyword, rest in build if keyword == "RUN"]
    script = run.replace("/tmp/wheels", str(tmp_path / "wheels"))
    arguments = dict(rest.split("=", 1) for keyword, rest in build if keyword == "ARG" and "=" in rest)
    env = {**os.environ, "VENV": str(venv), "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
           "PIP_DISABLE_PIP_VERSION_CHECK": "1", **{name: value.strip('"') for name, value in arguments.items()}}
    result = subprocess.run(["sh", "-c", script], cwd=context, env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"agreement-operator {__version__}" in result.stdout
    help_text = subprocess.run([str(venv / "bin" / "agreement-operator"), "run", "--help"],
                               capture_output=True, text=True, check=True).stdout
    assert "--liveness URL" in help_text and "--peering NAME" in help_text
    missing = subprocess.run([str(venv / "bin" / "agreement-operator"), "run"], capture_output=True, text=True,
                             env={"PATH": "/usr/bin:/bin"})
    assert missing.returncode == 2 and "configuration error" in missing.stderr
    # Development tooling stays out of the image, and says where it lives instead of failing obscurely.
    site = next((venv / "lib").glob("python3*/site-packages"))
    assert (site / "agreement_operator" / "controller" / "handlers.py").exists()
    assert (site / "agreement_operator" / "function" / "agreement_handler.py").exists()  # the wrapper ships
    # Only the botocore models the operator and the credential chain use; no pip at run time.
    assert sorted(path.name for path in (site / "botocore" / "data").iterdir() if path.is_dir()) == [
        "cloudwatch", "lambda", "logs", "sso", "sso-oidc", "sts"]
    assert not (site / "pip").exists()
    assert not (site / "agreement_operator" / "sandbox").exists()
    demo = subprocess.run([str(venv / "bin" / "agreement-operator"), "demo"], capture_output=True, text=True,
                          env={"PATH": "/usr/bin:/bin"})
    assert demo.returncode == 1
    assert "dev and demo are development tools" in demo.stderr and "make demo" in demo.stderr
