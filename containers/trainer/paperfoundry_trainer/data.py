"""prepare-data: download a public text corpus and write the byte-level train/val split."""

from __future__ import annotations

import os
import sys
import urllib.request
from pathlib import Path

CORPORA = {
    "tiny-shakespeare": "https://raw.githubusercontent.com/karpathy/char-rnn/master/data/tinyshakespeare/input.txt",
}
VAL_FRACTION = 0.1


def download(url: str, timeout: float = 60.0) -> bytes:
    if not url.startswith(("http://", "https://")):
        raise ValueError(f"refusing non-http(s) URL {url!r}")
    req = urllib.request.Request(url, headers={"User-Agent": "paperfoundry-trainer"})  # noqa: S310
    with urllib.request.urlopen(req, timeout=timeout) as resp:  # noqa: S310 - scheme checked
        return resp.read()


def write_split(raw: bytes, out: Path) -> tuple[int, int]:
    """First 90% of the bytes -> train.bin, last 10% -> val.bin (raw uint8)."""
    out.mkdir(parents=True, exist_ok=True)
    cut = int(len(raw) * (1 - VAL_FRACTION))
    (out / "train.bin").write_bytes(raw[:cut])
    (out / "val.bin").write_bytes(raw[cut:])
    return cut, len(raw) - cut


def prepare_data(corpus: str, out: Path, url: str | None = None) -> int:
    url = url or os.environ.get("PF_CORPUS_URL") or CORPORA.get(corpus)
    if url is None:
        print(
            f"prepare-data: unknown corpus {corpus!r}; known: {sorted(CORPORA)} (or pass --url)",
            file=sys.stderr,
        )
        return 64
    try:
        raw = download(url)
    except Exception as exc:  # noqa: BLE001 - report, don't crash
        print(
            f"prepare-data: download of {url} failed: {type(exc).__name__}: {exc}", file=sys.stderr
        )
        return 1
    if len(raw) < 1000:
        print(f"prepare-data: {url} returned only {len(raw)} bytes", file=sys.stderr)
        return 1
    n_train, n_val = write_split(raw, Path(out))
    print(f"prepare-data: {corpus}: {n_train:,} train bytes, {n_val:,} val bytes -> {out}")
    return 0
