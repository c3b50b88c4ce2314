"""Data for the task families: built-in offline sets, or downloaded and converted ones.

Byte-level LM: the built-in corpus is the text of Python's own documentation topics
(`pydoc_data.topics`, shipped with every CPython, PSF licence): ~465 KB of real English
prose and code, present wherever the harness runs (the SageMaker PyTorch image included), so
`lm` needs no network.

Images (`image`, `diffusion`): the built-in set is the 8x8 handwritten digits
(`datasets/digits.csv.gz`, 1,797 images, the UCI optdigits test set as scikit-learn ships
it; provenance and licence in `datasets/PROVENANCE.txt`). Larger sets live in an image
directory (`prepare-data --corpus cifar10`): `meta.json` plus `train.bin`, `val.bin`,
`test.bin`, each a run of records of one label byte followed by the C*H*W pixel bytes
(channel-major, uint8) - the CIFAR binary format, read with torch alone (no pickle).
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import json
import os
import shutil
import sys
import tarfile
import tempfile
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import torch

from .protocol import tensor_bytes

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
    if corpus in IMAGE_CORPORA:
        return prepare_images(corpus, Path(out), url)
    if corpus == BUILTIN and not url:
        n_train, n_other = write_split(builtin_text(), Path(out))
        print(f"prepare-data: {corpus}: {n_train:,} train bytes, {n_other:,} val+test -> {out}")
        return 0
    url = url or os.environ.get("PF_CORPUS_URL") or CORPORA.get(corpus)
    if url is None:
        print(
            f"prepare-data: unknown corpus {corpus!r}; "
            f"known: {sorted([*CORPORA, BUILTIN, *IMAGE_CORPORA])} (or pass --url)",
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


# -- images ----------------------------------------------------------------------------------

DATASETS_DIR = Path(__file__).resolve().parent / "datasets"
DIGITS_FILE = DATASETS_DIR / "digits.csv.gz"
DIGITS_SPLIT_SEED = 20240229  # the fixed shuffle before the digits are split
DIGITS_SIZES = {"test": 300, "val": 200}  # the rest (1,297) is train
IMAGE_META = "meta.json"
IMAGE_FORMAT = "paperfoundry-images-1"
CIFAR10_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz"
CIFAR10_VAL = 5000  # the last 5,000 training images: validation (LR choice) only
IMAGE_CORPORA = ("cifar10", "digits")
SPLITS = ("train", "val", "test")


@dataclass
class ImageSet:
    """One split: uint8 images (N, C, H, W) and int64 labels (N,)."""

    images: torch.Tensor
    labels: torch.Tensor

    def __len__(self) -> int:
        return len(self.labels)


@dataclass
class ImageData:
    name: str
    shape: tuple[int, int, int]  # C, H, W
    num_classes: int
    max_value: int  # the largest pixel value (16 for digits, 255 for CIFAR)
    splits: dict[str, ImageSet]


def load_digits(splits=SPLITS) -> ImageData:
    """The built-in 8x8 digits, split by a fixed shuffle: 1,297 train, 200 val, 300 test."""
    with gzip.open(DIGITS_FILE, "rt") as f:
        rows = [[int(v) for v in row] for row in csv.reader(f) if row]
    table = torch.tensor(rows, dtype=torch.int64)
    images = table[:, :64].to(torch.uint8).view(-1, 1, 8, 8)
    labels = table[:, 64]
    order = torch.randperm(len(labels), generator=torch.Generator().manual_seed(DIGITS_SPLIT_SEED))
    n_test, n_val = DIGITS_SIZES["test"], DIGITS_SIZES["val"]
    parts = {
        "test": order[:n_test],
        "val": order[n_test : n_test + n_val],
        "train": order[n_test + n_val :],
    }
    return ImageData(
        name="digits", shape=(1, 8, 8), num_classes=10, max_value=16,
        splits={s: ImageSet(images[parts[s]], labels[parts[s]]) for s in splits},
    )  # fmt: skip


def read_image_meta(data_dir) -> dict:
    path = Path(data_dir) / IMAGE_META
    if not path.is_file():
        raise FileNotFoundError(
            f"no {IMAGE_META} in {data_dir}: not an image directory "
            "(write one with `prepare-data --corpus cifar10 --out DIR`)"
        )
    meta = json.loads(path.read_text())
    if meta.get("format") != IMAGE_FORMAT:
        raise ValueError(f"{path}: format {meta.get('format')!r}, expected {IMAGE_FORMAT!r}")
    return meta


def image_files(data_dir, splits=SPLITS) -> list[Path]:
    """The files a reader of `splits` needs (what a worker gets to see: train only)."""
    return [Path(data_dir) / IMAGE_META, *(Path(data_dir) / f"{s}.bin" for s in splits)]


def load_image_dir(data_dir, splits=SPLITS) -> ImageData:
    meta = read_image_meta(data_dir)
    C, H, W = (int(v) for v in meta["shape"])
    K = int(meta["num_classes"])
    record = 1 + C * H * W
    out = {}
    for split in splits:
        path = Path(data_dir) / f"{split}.bin"
        if not path.is_file():
            raise FileNotFoundError(f"image directory {data_dir} has no {split}.bin")
        raw = path.read_bytes()
        if len(raw) % record or not raw:
            raise ValueError(
                f"{path}: {len(raw)} bytes is not a whole number of {record}-byte records"
            )
        rec = torch.frombuffer(bytearray(raw), dtype=torch.uint8).view(-1, record)
        labels = rec[:, 0].long()
        if int(labels.max()) >= K:
            raise ValueError(f"{path}: label {int(labels.max())} >= num_classes {K}")
        out[split] = ImageSet(rec[:, 1:].reshape(-1, C, H, W).clone(), labels)
    return ImageData(str(meta.get("dataset", Path(data_dir).name)), (C, H, W), K,
                     int(meta.get("max_value", 255)), out)  # fmt: skip


def write_image_dir(out: Path, data: ImageData, source: str) -> dict:
    """`data` as an image directory: meta.json + one .bin of records per split."""
    out.mkdir(parents=True, exist_ok=True)
    sizes, digests = {}, {}
    for split, s in data.splits.items():
        rec = torch.cat([s.labels.to(torch.uint8)[:, None], s.images.flatten(1)], 1)
        raw = tensor_bytes(rec)
        (out / f"{split}.bin").write_bytes(raw)
        sizes[split], digests[split] = len(s), hashlib.sha256(raw).hexdigest()
    meta = {
        "format": IMAGE_FORMAT, "dataset": data.name, "shape": list(data.shape),
        "num_classes": data.num_classes, "max_value": data.max_value, "splits": sizes,
        "sha256": digests, "source": source,
    }  # fmt: skip
    (out / IMAGE_META).write_text(json.dumps(meta, indent=1) + "\n")
    return meta


def cifar10_from_tarball(raw: bytes) -> ImageData:
    """CIFAR-10's binary distribution (data_batch_1..5.bin, test_batch.bin: records of one
    label byte + 3,072 pixel bytes) -> train (45,000), val (the last 5,000 training
    images), test (10,000). Read member by member: nothing is extracted to disk."""
    record = 1 + 3 * 32 * 32

    def records(tar, name) -> torch.Tensor:
        member = next((m for m in tar.getmembers() if m.name.endswith("/" + name)), None)
        if member is None or not member.isfile():
            raise ValueError(f"cifar10 archive has no {name}")
        data = tar.extractfile(member).read()
        if len(data) % record:
            raise ValueError(f"cifar10 {name}: not a whole number of records")
        return torch.frombuffer(bytearray(data), dtype=torch.uint8).view(-1, record)

    with tarfile.open(fileobj=io.BytesIO(raw), mode="r:gz") as tar:
        train = torch.cat([records(tar, f"data_batch_{i}.bin") for i in range(1, 6)])
        test = records(tar, "test_batch.bin")

    def split(rec):
        return ImageSet(rec[:, 1:].reshape(-1, 3, 32, 32).clone(), rec[:, 0].long())

    n_val = min(CIFAR10_VAL, len(train) // 10)
    return ImageData(
        "cifar10", (3, 32, 32), 10, 255,
        {"train": split(train[:-n_val]), "val": split(train[-n_val:]), "test": split(test)},
    )  # fmt: skip


def prepare_images(corpus: str, out: Path, url: str | None = None) -> int:
    if corpus == "digits" and not url:
        meta = write_image_dir(out, load_digits(), f"built in: {DIGITS_FILE.name}")
        print(f"prepare-data: digits: {meta['splits']} -> {out}")
        return 0
    url = url or os.environ.get("PF_CORPUS_URL") or CIFAR10_URL
    try:
        raw = download(url, timeout=300.0)
        data = cifar10_from_tarball(raw)
    except Exception as exc:  # noqa: BLE001 - report, don't crash
        print(f"prepare-data: {corpus} from {url} failed: {type(exc).__name__}: {exc}",
              file=sys.stderr)  # fmt: skip
        return 1
    meta = write_image_dir(out, data, url)
    print(f"prepare-data: {corpus}: {meta['splits']} -> {out}")
    return 0
