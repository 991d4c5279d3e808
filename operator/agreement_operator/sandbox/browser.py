"""Debian's Chromium, headless, to look at a page as people see it: a screenshot and the rendered DOM, and
the screenshot's pixels read here (a PNG decoder in a few lines: the tests need no imaging library)."""

import struct
import subprocess
import zlib
from pathlib import Path

# As the machine's notes say to start it: no network of its own, a fresh profile.
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--enable-logging=stderr", "--v=0"]


def render(chromium: str, page: Path, folder: Path, *mode: str, size: str = "1200,1400") -> subprocess.CompletedProcess:
    """Chromium run on `page` with `mode` (`--screenshot=FILE`, `--dump-dom`), a profile of its own in `folder`."""
    profile = folder / f"profile-{page.stem}-{len(mode)}"
    return subprocess.run([chromium, *FLAGS, f"--window-size={size}", f"--user-data-dir={profile}", *mode,
                           page.as_uri()], capture_output=True, text=True, timeout=120, check=True, cwd=folder)


def console(result: subprocess.CompletedProcess) -> list[str]:
    """The console messages and uncaught errors the page logged."""
    return [line for line in result.stderr.splitlines() if ":CONSOLE" in line or "Uncaught" in line]


def pixels(png: Path) -> list[list[tuple[int, int, int]]]:
    """The RGB pixels of an 8-bit RGB or RGBA PNG (what Chromium writes), row by row."""
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{png} is not a PNG"
    chunks: dict[bytes, list[bytes]] = {}
    offset = 8
    while offset < len(data):
        length, kind = struct.unpack(">I4s", data[offset:offset + 8])
        chunks.setdefault(kind, []).append(data[offset + 8:offset + 8 + length])
        offset += 12 + length
    width, height, depth, colour_type = struct.unpack(">IIBB", chunks[b"IHDR"][0][:10])
    assert depth == 8 and colour_type in (2, 6), f"{png}: {depth}-bit colour type {colour_type}"
    size = 3 if colour_type == 2 else 4
    raw, stride = zlib.decompress(b"".join(chunks[b"IDAT"])), width * size
    previous, rows = bytearray(stride), []
    for row in range(height):
        kind, line = raw[row * (stride + 1)], bytearray(raw[row * (stride + 1) + 1:(row + 1) * (stride + 1)])
        for index in range(stride):
            left = line[index - size] if index >= size else 0
            up, corner = previous[index], previous[index - size] if index >= size else 0
            guess = {0: 0, 1: left, 2: up, 3: (left + up) // 2, 4: _paeth(left, up, corner)}[kind]
            line[index] = (line[index] + guess) & 0xFF
        rows.append([(line[index], line[index + 1], line[index + 2]) for index in range(0, stride, size)])
        previous = line
    return rows


def colours(png: Path) -> int:
    """How many distinct colours the screenshot has (every 7th pixel of each row)."""
    return len({pixel for row in pixels(png) for pixel in row[::7]})


def _paeth(left: int, up: int, corner: int) -> int:
    estimate = left + up - corner
    distances = (abs(estimate - left), abs(estimate - up), abs(estimate - corner))
    return (left, up, corner)[distances.index(min(distances))]
