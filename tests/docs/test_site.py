"""The documentation site: built by MkDocs with the Material theme (scripts/docs-venv, a venv of its own)
with --strict, so a broken link, a missing anchor or a page left out of the navigation fails; and its main
pages looked at in Debian's Chromium, headless: styled, not empty."""

import os
import subprocess
from pathlib import Path

import pytest

from agreement_operator.sandbox.browser import colours, pixels, render

pytestmark = pytest.mark.slow
ROOT = Path(__file__).parents[2]
# Material's default primary colour: the header bar of every page it styles.
HEADER = (64, 81, 181)
PAGES = ["index.html", "install/index.html", "troubleshooting/index.html", "reference/agreementmetric/index.html"]


@pytest.fixture(scope="module")
def mkdocs() -> str:
    installed = subprocess.run([str(ROOT / "scripts" / "docs-venv")], capture_output=True, text=True)
    if installed.returncode != 0:  # PyPI unreachable, say: in CI that fails the run, as any missing tier does
        message = f"the documentation site needs MkDocs (scripts/docs-venv): {installed.stderr[-2000:]}"
        pytest.fail(message) if os.environ.get("CI") == "true" else pytest.skip(message)
    return installed.stdout.strip().splitlines()[-1]


def build(mkdocs: str, config: Path, site: Path) -> subprocess.CompletedProcess:
    return subprocess.run([mkdocs, "build", "--strict", "--config-file", str(config), "--site-dir", str(site)],
                          capture_output=True, text=True, env={**os.environ, "NO_MKDOCS_2_WARNING": "1"})


@pytest.fixture(scope="module")
def site(mkdocs, tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("site")
    built = build(mkdocs, ROOT / "mkdocs.yml", folder)
    assert built.returncode == 0, built.stdout + built.stderr
    return folder


def styled(png: Path) -> bool:
    """Whether a screenshot shows a page Material styled: its header bar across the top, and content."""
    rows = pixels(png)
    return all(rows[20][x] == HEADER for x in (5, 300, 900)) and colours(png) >= 50


@pytest.mark.parametrize("page", PAGES)
def test_each_main_page_renders_styled(chromium, site, tmp_path, page):
    shot = tmp_path / "page.png"
    render(chromium, site / page, tmp_path, f"--screenshot={shot}", size="1280,900")
    assert styled(shot), f"{page} does not look like a page of the site"


def test_the_check_fails_on_an_unstyled_or_empty_page(chromium, site, tmp_path):
    unstyled = tmp_path / "unstyled.html"
    unstyled.write_text("\n".join(line for line in (site / "index.html").read_text().splitlines()
                                  if "stylesheet" not in line))
    empty = tmp_path / "empty.html"
    empty.write_text("<!DOCTYPE html><html><body></body></html>")
    for page in (unstyled, empty):
        shot = tmp_path / f"{page.stem}.png"
        render(chromium, page, tmp_path, f"--screenshot={shot}", size="1280,900")
        assert not styled(shot), page.name


def test_a_broken_link_or_anchor_fails_the_build(mkdocs, tmp_path):
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "index.md").write_text("# Home\n\n[there](other.md#no-such-anchor) and [gone](missing.md)\n")
    (docs / "other.md").write_text("# Other\n")
    config = tmp_path / "mkdocs.yml"
    config.write_text((ROOT / "mkdocs.yml").read_text().split("\nnav:")[0].replace(
        "docs/hooks/repository_links.py", str(ROOT / "docs" / "hooks" / "repository_links.py")) +
        "\nnav:\n  - Home: index.md\n  - Other: other.md\n")
    built = build(mkdocs, config, tmp_path / "site")
    assert built.returncode != 0
    assert "missing.md" in built.stderr and "no-such-anchor" in built.stderr
