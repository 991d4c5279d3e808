"""Releases: one version for the package, the image and the chart; a CHANGELOG entry for it; and a CRD
that only grows from the last recorded release (tests/data/releases/VERSION/, its CRD and commit)."""

import re
import subprocess
import tomllib
from pathlib import Path

import pytest
import yaml

from agreement_operator import __version__
from agreement_operator.schema import additive, packaged

ROOT = Path(__file__).parent.parent
RELEASES = ROOT / "tests" / "data" / "releases"
CHANGELOG = (ROOT / "CHANGELOG.md").read_text()
CRD = yaml.safe_load((ROOT / "crds" / "agreementmetrics.yaml").read_text())


def changelog_sections() -> dict[str, str]:
    """Version -> the text of its section, newest first."""
    parts = re.split(r"^## \[([^\]]+)\][^\n]*\n", CHANGELOG, flags=re.MULTILINE)
    return dict(zip(parts[1::2], parts[2::2], strict=True))


def recorded() -> list[str]:
    """Versions recorded as released, oldest first."""
    return sorted((path.name for path in RELEASES.iterdir()), key=lambda v: tuple(int(n) for n in v.split(".")))


def released_crd(version: str) -> dict:
    return yaml.safe_load((RELEASES / version / "agreementmetrics.yaml").read_text())


def test_the_package_the_image_and_the_chart_share_one_version():
    chart = yaml.safe_load((ROOT / "helm" / "agreement-operator" / "Chart.yaml").read_text())
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["version"] == __version__ == chart["version"] == chart["appVersion"]
    # The image is tagged with the package's version (scripts/build-image) and the chart pulls appVersion.
    assert next(iter(changelog_sections())) == __version__, "CHANGELOG.md's newest section is this version"


def test_every_recorded_release_has_its_changelog_section_naming_its_commit():
    sections = changelog_sections()
    for version in recorded():
        commit = (RELEASES / version / "commit").read_text().strip()
        assert re.fullmatch(r"[0-9a-f]{40}", commit)
        assert version in sections and f"`{commit[:7]}`" in sections[version], version
        assert re.search(rf"^## \[{re.escape(version)}\] - \d{{4}}-\d{{2}}-\d{{2}}$", CHANGELOG, re.MULTILINE)
    assert __version__ not in recorded(), "the working tree's version is not released yet"


@pytest.mark.parametrize("version", recorded())
def test_the_kept_crd_is_the_one_the_release_shipped(version):
    commit = (RELEASES / version / "commit").read_text().strip()
    shipped = subprocess.run(["git", "show", f"{commit}:crds/agreementmetrics.yaml"], cwd=ROOT,
                             capture_output=True, text=True, check=False)
    assert shipped.returncode == 0, (
        f"release {version}'s commit {commit} is not in this clone ({shipped.stderr.strip()}); the upgrade tests "
        "need the repository's history: `git fetch --unshallow`")
    assert shipped.stdout == (RELEASES / version / "agreementmetrics.yaml").read_text()


def test_the_crd_only_grows_from_the_last_release_unless_the_changelog_says_it_breaks():
    narrowed = additive.narrowings(released_crd(recorded()[-1]), CRD)
    breaking = changelog_sections()[__version__].split("### Breaking", 1)
    if len(breaking) == 1:
        assert narrowed == [], (f"the CRD narrows what {recorded()[-1]} accepted: {narrowed}; make the change "
                                "additive, or list it under '### Breaking' in CHANGELOG.md")
    else:
        unlisted = [line for line in narrowed if line.split(":")[1].strip() not in breaking[1]]
        assert unlisted == [], f"CHANGELOG.md's Breaking section does not name: {unlisted}"


def test_the_crd_is_stamped_with_the_digest_of_its_spec_and_a_revision_above_the_last_release():
    assert packaged.stamped_digest(CRD) == packaged.digest(CRD), (
        "crds/agreementmetrics.yaml changed: run `.venv/bin/python scripts/stamp-crd`, which raises "
        f"{packaged.REVISION_ANNOTATION} and sets {packaged.DIGEST_ANNOTATION}")
    last = released_crd(recorded()[-1])
    if packaged.digest(last) != packaged.digest(CRD):
        assert packaged.revision(CRD) > packaged.revision(last)


def test_the_operator_ships_the_crd_of_crds():
    assert packaged.text() == (ROOT / "crds" / "agreementmetrics.yaml").read_text()
