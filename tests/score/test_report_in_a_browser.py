"""`score --format html` rendered by a real browser: Debian's Chromium, headless.

The page is the report of a real export (tests/score/conftest.py). The screenshot must not be
blank, the rendered DOM must hold the histogram's bars and the heatmap's cells, and the browser
must log no console message. Under CI=true a missing Chromium fails the run (`.ci/run` installs it).
"""

import subprocess
import sys
from pathlib import Path

import pytest

from agreement_operator.sandbox.browser import colours, console, render

pytestmark = pytest.mark.slow
LIBRARY = Path(__file__).parents[2] / "examples" / "metrics"


def test_the_html_report_renders_with_its_charts_and_no_console_message(chromium, real, tmp_path):
    page = tmp_path / "report.html"
    written = subprocess.run([sys.executable, "-m", "agreement_operator", "score", str(real.snapshot("multichoice")),
                              str(LIBRARY / "multichoice.yaml"), "--predictions", "--format", "html", "-o", str(page)],
                             capture_output=True, text=True, timeout=300, check=False)
    assert written.returncode == 0, written.stderr
    shot = render(chromium, page, tmp_path, f"--screenshot={tmp_path / 'report.png'}")
    assert console(shot) == []
    assert colours(tmp_path / "report.png") >= 20  # text, cards, bars and cells: not a blank page
    dom = render(chromium, page, tmp_path, "--dump-dom")
    assert console(dom) == []
    histogram, heatmap = dom.stdout.split("<svg")[1:3]
    assert histogram.count("<rect") >= 1 and 'height="0"' not in histogram.split("<rect", 2)[1].split(">")[0]
    annotators = 5  # three people and two model versions
    assert heatmap.count("<rect") >= annotators * annotators - annotators


def test_the_console_check_sees_a_console_message(chromium, tmp_path):
    """The check above would see an error the page logged."""
    page = tmp_path / "noisy.html"
    page.write_text('<!DOCTYPE html><html><body><script>console.error("boom")</script></body></html>')
    assert any('"boom"' in line for line in console(render(chromium, page, tmp_path, "--dump-dom")))
