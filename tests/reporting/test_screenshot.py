"""Render the report, the index and the feed in headless Chromium; check the screenshots.

Skipped (with the reason) when Chromium is not installed: `apt-get install -y chromium`.
The PNG is decoded here with zlib (no Pillow) to check it is not one flat colour and that
the report's key colours (dark header, score bars, loss-curve lines) were actually painted.
"""

from __future__ import annotations

import os
import shutil
import struct
import subprocess
import zlib
from collections import Counter
from pathlib import Path

import pytest
from paperfoundry.reporting import render_feed, render_html, render_index
from paperfoundry.reporting.index import entry_for
from paperfoundry.reporting.svg import BASELINE_COLOUR, MODEL_COLOURS

CANDIDATES = ["/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome"]


def find_chromium() -> str | None:
    env = os.environ.get("CHROMIUM")
    for path in ([env] if env else []) + CANDIDATES:
        if path and Path(path).is_file() and os.access(path, os.X_OK):
            return path
    return shutil.which("chromium")


CHROMIUM = find_chromium()
pytestmark = pytest.mark.skipif(
    CHROMIUM is None,
    reason="chromium not installed (Debian: apt-get install -y chromium); screenshot test skipped",
)


def screenshot(
    html: str, tmp_path: Path, name: str, size: str = "1280,2000", suffix: str = ".html"
) -> Path:
    page = tmp_path / f"{name}{suffix}"
    page.write_text(html, encoding="utf-8")
    png = tmp_path / f"{name}.png"
    cmd = [
        CHROMIUM,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--hide-scrollbars",
        f"--user-data-dir={tmp_path / 'chromium-profile'}",
        f"--window-size={size}",
        f"--screenshot={png}",
        page.as_uri(),
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)
    assert png.exists(), f"no screenshot; rc={proc.returncode}\n{proc.stderr[-2000:]}"
    return png


def _unfilter(kind: int, line: bytearray, prev: bytearray, bpp: int) -> bytearray:
    """Undo one PNG scanline filter (spec section 9); Up uses a SWAR add for speed."""
    n = len(line)
    if kind == 0:
        return line
    if kind == 2:  # Up: bytewise (line + prev) mod 256 on big ints, no carry between bytes
        a, b = int.from_bytes(line, "big"), int.from_bytes(prev, "big")
        low, high = _masks(n)
        return bytearray((((a & low) + (b & low)) ^ ((a ^ b) & high)).to_bytes(n, "big"))
    if kind == 1:  # Sub
        for x in range(bpp, n):
            line[x] = (line[x] + line[x - bpp]) & 0xFF
    elif kind == 3:  # Average
        for x in range(n):
            left = line[x - bpp] if x >= bpp else 0
            line[x] = (line[x] + ((left + prev[x]) >> 1)) & 0xFF
    elif kind == 4:  # Paeth
        for x in range(bpp):
            line[x] = (line[x] + prev[x]) & 0xFF
        for x in range(bpp, n):
            a, b, c = line[x - bpp], prev[x], prev[x - bpp]
            pa, pb, pc = abs(b - c), abs(a - c), abs(a + b - c - c)
            pred = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
            line[x] = (line[x] + pred) & 0xFF
    else:
        raise AssertionError(f"bad PNG filter type {kind}")
    return line


_MASKS: dict[int, tuple[int, int]] = {}


def _masks(n: int) -> tuple[int, int]:
    if n not in _MASKS:
        _MASKS[n] = (int.from_bytes(b"\x7f" * n, "big"), int.from_bytes(b"\x80" * n, "big"))
    return _MASKS[n]


def decode_png(path: Path) -> tuple[int, int, int, bytes]:
    """(width, height, channels, raw pixels) of an 8-bit RGB/RGBA non-interlaced PNG."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat, header = 8, bytearray(), None
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind = data[pos + 4 : pos + 8]
        chunk = data[pos + 8 : pos + 8 + length]
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", chunk)
        elif kind == b"IDAT":
            idat += chunk
        elif kind == b"IEND":
            break
        pos += 12 + length
    assert header is not None
    width, height, depth, colour_type, _, _, interlace = header
    assert depth == 8 and colour_type in (2, 6) and interlace == 0, header
    channels = 3 if colour_type == 2 else 4
    raw = zlib.decompress(bytes(idat))
    stride = width * channels
    assert len(raw) == height * (stride + 1), "truncated image data"
    rows = []
    prev = bytearray(stride)
    for row in range(height):
        i = row * (stride + 1)
        prev = _unfilter(raw[i], bytearray(raw[i + 1 : i + 1 + stride]), prev, channels)
        rows.append(bytes(prev))
    return width, height, channels, b"".join(rows)


def colour_counts(path: Path) -> tuple[int, int, Counter]:
    width, height, channels, px = decode_png(path)
    counts = Counter(zip(px[0::channels], px[1::channels], px[2::channels], strict=True))
    return width, height, counts


def near(counts: Counter, hex_colour: str, tol: int = 40) -> int:
    target = tuple(int(hex_colour[k : k + 2], 16) for k in (1, 3, 5))
    return sum(
        n
        for c, n in counts.items()
        if sum(abs(a - b) for a, b in zip(c, target, strict=True)) <= tol
    )


def test_report_screenshot(report, tmp_path):
    # tall enough for the picks and the ranking after them
    png = screenshot(render_html(report), tmp_path, "report", size="1280,4600")
    keep(png)
    assert png.stat().st_size > 30_000
    width, height, counts = colour_counts(png)
    assert (width, height) == (1280, 4600)
    total = width * height
    assert len(counts) > 200, "screenshot is (nearly) a single flat colour"
    assert max(counts.values()) < 0.9 * total
    assert near(counts, "#0f172a", tol=6) > 1280 * 40  # dark header band
    assert near(counts, "#2563eb", tol=30) > 2000  # 'relevance' segments of score bars
    assert near(counts, "#fef3c7", tol=6) > 1280 * 20  # sample-day banner


def test_chart_screenshot(report, tmp_path):
    # A short table so the first pick and its loss chart fall inside the window.
    png = screenshot(render_html(report, top_n=1), tmp_path, "picks", size="1280,2400")
    keep(png)
    _, _, counts = colour_counts(png)
    assert near(counts, MODEL_COLOURS[0]) > 500, "candidate curve not painted"
    assert near(counts, BASELINE_COLOUR) > 500, "baseline curve not painted"
    assert near(counts, "#f0fdf4", tol=4) > 5000  # 'better' verdict panel


def keep(png: Path) -> None:
    """Copy a screenshot to $PF_SCREENSHOT_DIR (if set) so a person can look at it."""
    target = os.environ.get("PF_SCREENSHOT_DIR")
    if target:
        Path(target).mkdir(parents=True, exist_ok=True)
        shutil.copyfile(png, Path(target) / png.name)


def test_verdicts_screenshot(tmp_path):
    """Claims, gates, CIs, seeds and efficiency of schema 2 runs actually paint."""
    from .factories import build_verdicts_report

    html = render_html(build_verdicts_report(), top_n=1)
    png = screenshot(html, tmp_path, "verdicts", size="1280,5200")
    keep(png)
    _, _, counts = colour_counts(png)
    assert near(counts, "#f0fdf4", tol=4) > 20_000, "supported headline panel not painted"
    assert near(counts, "#faf5ff", tol=4) > 20_000, "invalid headline / failed gate not painted"
    assert near(counts, "#e0f2fe", tol=4) > 800, "equivalence margin band not painted"
    assert near(counts, MODEL_COLOURS[0], tol=40) > 150, "candidate seeds not painted"
    assert near(counts, "#4338ca", tol=40) > 100, "equivalent effect not painted"
    assert near(counts, "#b91c1c", tol=40) > 300, "worse ablation / contradicted not painted"


def _days():
    from datetime import date

    from .factories import build_llm_report, build_report, build_verdicts_report

    llm = build_llm_report().model_copy(update={"day": date(2025, 3, 13)})
    sample = build_report().model_copy(update={"day": date(2025, 2, 28)})
    return [entry_for(r) for r in (build_verdicts_report(), llm, sample)]


def test_index_screenshot(tmp_path):
    """The index of days paints its header, month cards and the picks' badges."""
    png = screenshot(render_index(_days()), tmp_path, "index", size="1280,1200")
    keep(png)
    _, _, counts = colour_counts(png)
    assert near(counts, "#0f172a", tol=6) > 1280 * 40  # dark header band
    assert near(counts, "#dcfce7", tol=6) > 300, "supported / legacy better badges not painted"
    assert near(counts, "#fee2e2", tol=6) > 300, "contradicted / failed badges not painted"
    assert near(counts, "#f3e8ff", tol=6) > 100, "invalid badge not painted"
    assert near(counts, "#ffffff", tol=0) > 1280 * 300  # the cards


def test_feed_screenshot(tmp_path):
    """Chromium loads the feed (as an XML tree: no stylesheet); test_index parses it as Atom."""
    png = screenshot(render_feed(_days()), tmp_path, "feed", size="1280,900", suffix=".xml")
    keep(png)
    _, _, counts = colour_counts(png)
    assert len(counts) > 20, "feed page is blank"
    assert max(counts.values()) < 0.99 * 1280 * 900
