"""A tiny stdlib-only line-plot rasteriser (zlib + struct PNG), so the harness needs no
numpy/matplotlib. Draws loss curves per model/seed with axes, ticks and a legend."""

from __future__ import annotations

import math
import struct
import zlib

# 3x5 bitmap glyphs, one string of 15 bits per character (row-major, top row first)
_GLYPHS = {
    "0": "111101101101111",
    "1": "010110010010111",
    "2": "111001111100111",
    "3": "111001111001111",
    "4": "101101111001001",
    "5": "111100111001111",
    "6": "111100111101111",
    "7": "111001001001001",
    "8": "111101111101111",
    "9": "111101111001111",
    ".": "000000000000010",
    "-": "000000111000000",
    "+": "000010111010000",
    "=": "000111000111000",
    ":": "000010000010000",
    " ": "000000000000000",
    "_": "000000000000111",
    "(": "010100100100010",
    ")": "010001001001010",
    "a": "000011101101011",
    "b": "100110101101110",
    "c": "000011100100011",
    "d": "001011101101011",
    "e": "000010111100011",
    "f": "011100110100100",
    "g": "011101011001110",
    "h": "100110101101101",
    "i": "010000010010010",
    "k": "100101110101101",
    "l": "010010010010011",
    "m": "000111111101101",
    "n": "000110101101101",
    "o": "000010101101010",
    "p": "000110101110100",
    "q": "000011101011001",
    "r": "000101110100100",
    "s": "000011110011110",
    "t": "010111010010011",
    "u": "000101101101011",
    "v": "000101101101010",
    "w": "000101101111111",
    "x": "000101010101101",
    "y": "101101011001110",
    "z": "000111011110111",
}
_UNKNOWN = "111101101101111"
PALETTE = {"baseline": (31, 119, 180), "candidate": (230, 110, 10)}


class Canvas:
    def __init__(self, width: int, height: int):
        self.w, self.h = width, height
        self.px = bytearray(b"\xff" * (width * height * 3))

    def dot(self, x: int, y: int, color) -> None:
        if 0 <= x < self.w and 0 <= y < self.h:
            i = (y * self.w + x) * 3
            self.px[i : i + 3] = bytes(color)

    def line(self, x0, y0, x1, y1, color, width=1) -> None:
        # Bresenham; `width` thickens it vertically and horizontally
        x0, y0, x1, y1 = round(x0), round(y0), round(x1), round(y1)
        dx, dy = abs(x1 - x0), -abs(y1 - y0)
        sx, sy = (1 if x0 < x1 else -1), (1 if y0 < y1 else -1)
        err = dx + dy
        while True:
            for o in range(width):
                self.dot(x0 + o, y0, color)
                self.dot(x0, y0 + o, color)
            if x0 == x1 and y0 == y1:
                return
            e2 = 2 * err
            if e2 >= dy:
                err, x0 = err + dy, x0 + sx
            if e2 <= dx:
                err, y0 = err + dx, y0 + sy

    def text(self, x: int, y: int, s: str, color=(0, 0, 0), scale=2) -> None:
        for k, ch in enumerate(s.lower()):
            bits = _GLYPHS.get(ch, _UNKNOWN)
            for r in range(5):
                for c in range(3):
                    if bits[r * 3 + c] == "1":
                        for a in range(scale):
                            for b in range(scale):
                                self.dot(
                                    x + k * 4 * scale + c * scale + a, y + r * scale + b, color
                                )

    def png(self) -> bytes:
        def chunk(tag: bytes, data: bytes) -> bytes:
            return (
                struct.pack(">I", len(data))
                + tag
                + data
                + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)
            )

        stride = self.w * 3
        raw = b"".join(
            b"\x00" + bytes(self.px[y * stride : (y + 1) * stride]) for y in range(self.h)
        )
        header = struct.pack(">IIBBBBB", self.w, self.h, 8, 2, 0, 0, 0)  # 8-bit RGB
        return (
            b"\x89PNG\r\n\x1a\n"
            + chunk(b"IHDR", header)
            + chunk(b"IDAT", zlib.compress(raw, 9))
            + chunk(b"IEND", b"")
        )


def nice_ticks(lo: float, hi: float, n: int = 5) -> list[float]:
    if hi <= lo:
        hi = lo + 1.0
    raw = (hi - lo) / n
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 5, 10) if m * mag >= raw)
    start = math.ceil(lo / step) * step
    return [round(start + i * step, 10) for i in range(int((hi - start) / step + 1e-9) + 1)]


def _shade(color, i: int, n: int):
    t = 0.5 * i / max(1, n - 1) if n > 1 else 0.0  # later seeds are lighter
    return tuple(round(c + (255 - c) * t) for c in color)


def loss_plot(curves: dict, title: str = "train loss", width=760, height=460) -> bytes:
    """curves: {"baseline": {"0": {"step": [...], "loss": [...]}}, "candidate": {...}}"""
    cv = Canvas(width, height)
    left, right, top, bottom = 80, 20, 40, 50
    pw, ph = width - left - right, height - top - bottom
    series = [(m, s, c) for m in curves for s, c in sorted(curves[m].items()) if c["step"]]
    xs = [x for _, _, c in series for x in c["step"]] or [0, 1]
    ys = [y for _, _, c in series for y in c["loss"] if math.isfinite(y)] or [0, 1]
    x0, x1 = 0, max(xs)
    pad = 0.05 * ((max(ys) - min(ys)) or 1.0)
    y0, y1 = min(ys) - pad, max(ys) + pad

    def X(v):
        return left + (v - x0) / ((x1 - x0) or 1) * pw

    def Y(v):
        return top + ph - (v - y0) / ((y1 - y0) or 1) * ph

    grey, black = (225, 225, 225), (0, 0, 0)
    for t in nice_ticks(x0, x1):
        cv.line(X(t), top, X(t), top + ph, grey)
        label = f"{t:g}"
        cv.text(round(X(t)) - len(label) * 4, top + ph + 8, label)
    for t in nice_ticks(y0, y1):
        cv.line(left, Y(t), left + pw, Y(t), grey)
        label = f"{t:.4g}"
        cv.text(left - 8 - len(label) * 8, round(Y(t)) - 5, label)
    cv.line(left, top, left, top + ph, black)
    cv.line(left, top + ph, left + pw, top + ph, black)
    cv.text(left, 12, title)
    cv.text(left + pw // 2 - 16, height - 20, "step")

    per_model = {m: sorted(curves[m]) for m in curves}
    for k, (model, seed, c) in enumerate(series):
        color = _shade(
            PALETTE.get(model, (90, 90, 90)), per_model[model].index(seed), len(per_model[model])
        )
        pts = [(X(a), Y(b)) for a, b in zip(c["step"], c["loss"], strict=False) if math.isfinite(b)]
        for (ax, ay), (bx, by) in zip(pts, pts[1:], strict=False):
            cv.line(ax, ay, bx, by, color, width=2)
        label = f"{model} seed {seed}"
        lx, ly = left + pw - len(label) * 8 - 40, top + 10 + k * 16
        cv.line(lx, ly + 5, lx + 24, ly + 5, color, width=3)
        cv.text(lx + 30, ly, label)
    return cv.png()
