"""Corpora for the byte-level LM task: a built-in offline one, or a downloaded one.

The built-in corpus is the text of Python's own documentation topics (`pydoc_data.topics`,
shipped with every CPython, PSF licence): ~465 KB of real English prose and code, present
wherever the harness runs (the SageMaker PyTorch image included), so `lm` needs no network.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import urllib.request
from pathlib import Path

CORPORA = {
    "tiny-shakespeare": "https://raw.githubusercontent.com/karpathy/char-rnn/master/data/tinyshakespeare/input.txt",
}
VAL_FRACTION = 0.1  # split in half: validation (LR choice) and test (the verdict)
BUILTIN = "python-docs"


def download(url: str, timeout: float = 60.0) -> bytes:
    if not url.startswith(("http://", "https://")):
        raise ValueError(f"refusing non-http(s) URL {url!r}")
    req = urllib.request.Request(url, headers={"User-Agent": "paperfoundry-trainer"})  # noqa: S310
    with urllib.request.urlopen(req, timeout=timeout) as resp:  # noqa: S310 - scheme checked
        return resp.read()


def write_split(raw: bytes, out: Path) -> tuple[int, int]:
    """First 90% of the bytes -> train.bin, then 5% val.bin and 5% test.bin (raw uint8)."""
    out.mkdir(parents=True, exist_ok=True)
    cut = int(len(raw) * (1 - VAL_FRACTION))
    mid = cut + (len(raw) - cut) // 2
    (out / "train.bin").write_bytes(raw[:cut])
    (out / "val.bin").write_bytes(raw[cut:mid])
    (out / "test.bin").write_bytes(raw[mid:])
    return cut, len(raw) - cut


def builtin_text() -> bytes:
    from pydoc_data.topics import topics  # stdlib; sorted so the bytes never change order

    return "\n\n".join(topics[k] for k in sorted(topics)).encode("utf-8")


def ensure_builtin(out: Path) -> Path:
    """Write the built-in corpus's splits to `out` once; return `out`."""
    out = Path(out)
    if not (out / "test.bin").is_file():  # built aside, then renamed: readers never see half
        tmp = Path(tempfile.mkdtemp(prefix=".corpus-", dir=out.parent))
        write_split(builtin_text(), tmp)
        try:
            tmp.replace(out)
        except OSError:  # another process got there first
            shutil.rmtree(tmp, ignore_errors=True)
    return out


def prepare_data(corpus: str, out: Path, url: str | None = None) -> int:
    if corpus == BUILTIN and not url:
        n_train, n_other = write_split(builtin_text(), Path(out))
        print(f"prepare-data: {corpus}: {n_train:,} train bytes, {n_other:,} val+test -> {out}")
        return 0
    url = url or os.environ.get("PF_CORPUS_URL") or CORPORA.get(corpus)
    if url is None:
        print(
            f"prepare-data: unknown corpus {corpus!r}; "
            f"known: {sorted([*CORPORA, BUILTIN])} (or pass --url)",
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
    print(f"prepare-data: {corpus}: {n_train:,} train bytes, {n_val:,} val+test -> {out}")
    return 0
