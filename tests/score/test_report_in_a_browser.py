"""`score --format html` rendered by a real browser: Debian's Chromium, headless.

The page is the report of a real export (tests/score/conftest.py). The screenshot must not be
blank, the rendered DOM must hold the histogram's bars and the heatmap's cells, and the browser
must log no console message. Under CI=true a missing Chromium fails the run (`.ci/run` installs it).
"""

import os
import shutil
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow
LIBRARY = Path(__file__).parents[2] / "examples" / "metrics"
# As the machine's notes say to start it: no network of its own, a fresh profile.
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--enable-logging=stderr", "--v=0", "--window-size=1200,1400"]


@pytest.fixture(scope="module")
def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        if os.environ.get("CI") == "true":
            pytest.fail("CI requires Chromium for the HTML report's test: apt-get install chromium")
        pytest.skip("Chromium is not installed (apt-get install chromium)")
    return found


def render(chromium: str, page: Path, folder: Path, *mode: str) -> subprocess.CompletedProcess:
    profile = folder / f"profile-{page.stem}-{len(mode)}"
    return subprocess.run([chromium, *FLAGS, f"--user-data-dir={profile}", *mode, page.as_uri()],
                          capture_output=True, text=True, timeout=120, check=True, cwd=folder)


def console(result: subprocess.CompletedProcess) -> list[str]:
    return [line for line in result.stderr.splitlines() if ":CONSOLE" in line or "Uncaught" in line]


def colours(png: Path) -> int:
    """How many distinct colours the screenshot has (an 8-bit RGB or RGBA PNG, decoded here)."""
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    chunks, offset = {}, 8
    while offset < len(data):
        length, kind = struct.unpack(">I4s", data[offset:offset + 8])
        chunks.setdefault(kind, []).append(data[offset + 8:offset + 8 + length])
        offset += 12 + length
    width, height, depth, colour_type = struct.unpack(">IIBB", chunks[b"IHDR"][0][:10])
    assert depth == 8 and colour_type in (2, 6)
    size = 3 if colour_type == 2 else 4
    raw, stride = zlib.decompress(b"".join(chunks[b"IDAT"])), width * size
    previous, seen = bytearray(stride), set()
    for row in range(height):
        kind, line = raw[row * (stride + 1)], bytearray(raw[row * (stride + 1) + 1:(row + 1) * (stride + 1)])
        for index in range(stride):
            left = line[index - size] if index >= size else 0
            up, corner = previous[index], previous[index - size] if index >= size else 0
            guess = {0: 0, 1: left, 2: up, 3: (left + up) // 2, 4: _paeth(left, up, corner)}[kind]
            line[index] = (line[index] + guess) & 0xFF
        seen.update(bytes(line[index:index + 3]) for index in range(0, stride, size * 7))  # every 7th pixel
        previous = line
    return len(seen)


def _paeth(left: int, up: int, corner: int) -> int:
    estimate = left + up - corner
    distances = (abs(estimate - left), abs(estimate - up), abs(estimate - corner))
    return (left, up, corner)[distances.index(min(distances))]


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
