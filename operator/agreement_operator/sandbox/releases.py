"""Earlier releases of this repository, as their source trees, for the upgrade tests and benchmark.

A release is recorded in tests/data/releases/VERSION/commit (and in CHANGELOG.md). Its tree comes from
the repository's own history with `git archive`, once, into the cache outside the repository
(AGREEMENT_OPERATOR_CACHE, else ~/.cache/agreement-operator): its chart to install with helm, and its
operator to run as a process (`environment(tree)` puts its package first on the import path, ahead of
the working tree's editable install; the dependencies are the venv's).
"""

import os
import shutil
import subprocess
from pathlib import Path

from agreement_operator.sandbox.control_plane import repository
from agreement_operator.sandbox.processes import StartupFailed

_PARTS = ("operator", "helm", "crds", "pyproject.toml")
# Not a release: the chart as it was when its CRD lacked nine of today's fields (spec.labelStudio.connection,
# status.usage, ...), the install on which `helm upgrade` was first seen to keep an old CRD.
OLDER_INSTALL = "c0f5f8ca6853bbf7e86b1fb4e140644839f8ed2d"


def cache_root() -> Path:
    root = os.environ.get("AGREEMENT_OPERATOR_CACHE") or \
        Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "agreement-operator"
    return Path(root)


def commit_of(version: str) -> str:
    return (repository() / "tests" / "data" / "releases" / version / "commit").read_text().strip()


def tree(commit: str, variant: str = "") -> Path:
    """The source of `commit` (its operator, chart and CRDs), extracted once. `variant`: a name for a copy
    that a caller changes (see with_changed_wrapper); the plain tree is never changed."""
    target = cache_root() / "releases" / (commit + (f"-{variant}" if variant else ""))
    if (target / ".complete").exists():
        return target
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    archive = subprocess.run(["git", "-C", str(repository()), "archive", "--format=tar", commit, *_PARTS],
                             capture_output=True, check=False)
    if archive.returncode != 0:
        raise StartupFailed(f"commit {commit} is not in this clone ({archive.stderr.decode().strip()}); the upgrade "
                            "tests need the repository's history: `git fetch --unshallow`")
    subprocess.run(["tar", "-x", "-C", str(target)], input=archive.stdout, check=True)
    (target / ".complete").touch()
    return target


def with_changed_wrapper(commit: str) -> Path:
    """The release's tree with one comment added to its Lambda handler wrapper: what a release whose wrapper
    changed looks like to the functions it deployed (a new CodeSha256 for every one of them)."""
    target = tree(commit, "changed-wrapper")
    wrapper = target / "operator" / "agreement_operator" / "function" / "agreement_handler.py"
    marker = "# a release whose wrapper changed (sandbox/releases.py)\n"
    if marker not in wrapper.read_text():
        wrapper.write_text(wrapper.read_text() + marker)
    return target


def environment(release: Path) -> dict[str, str]:
    """What runs `python -m agreement_operator` from `release` instead of the working tree."""
    return {"PYTHONPATH": str(release / "operator")}
