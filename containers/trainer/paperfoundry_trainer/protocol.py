"""Frames between the trusted controller and a worker: a JSON header plus raw tensors.

A frame is `<u32 header length><header JSON>` followed by the raw bytes of each tensor the
header lists (`{"name", "dtype", "shape"}`), in order. Nothing is ever pickled: the worker
runs a candidate's code, so everything it sends is parsed as data with fixed limits.
"""

from __future__ import annotations

import ctypes
import json
import math
import struct

import torch

MAX_HEADER_BYTES = 1 << 20
MAX_FRAME_BYTES = 1 << 31  # one frame never carries more than 2 GiB of tensors
DTYPES = {
    "float32": torch.float32,
    "int64": torch.int64,
    "uint8": torch.uint8,
}
_NAMES = {v: k for k, v in DTYPES.items()}


class ProtocolError(Exception):
    """The other side sent something that is not a well-formed frame (or went away)."""


def _read_exact(stream, n: int) -> bytes:
    chunks, left = [], n
    while left:
        chunk = stream.read(left)
        if not chunk:
            raise ProtocolError(f"stream closed with {left} of {n} bytes unread")
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def tensor_bytes(t: torch.Tensor) -> bytes:
    """Raw bytes of a contiguous CPU tensor, copied in one go (bytes(tensor) would iterate
    element by element, and numpy is not a dependency)."""
    t = t.detach().to("cpu").contiguous()
    return ctypes.string_at(t.data_ptr(), t.numel() * t.element_size()) if t.numel() else b""


def send(stream, header: dict, tensors: dict[str, torch.Tensor] | None = None) -> None:
    tensors = tensors or {}
    listed, payloads = [], []
    for name, t in tensors.items():
        t = t.detach().to("cpu").contiguous()
        if t.dtype not in _NAMES:
            t = t.float()
        listed.append({"name": name, "dtype": _NAMES[t.dtype], "shape": list(t.shape)})
        payloads.append(tensor_bytes(t))
    raw = json.dumps({**header, "tensors": listed}).encode()
    stream.write(struct.pack(">I", len(raw)) + raw)
    for payload in payloads:
        stream.write(payload)
    stream.flush()


def recv(stream) -> tuple[dict, dict[str, torch.Tensor]]:
    (n,) = struct.unpack(">I", _read_exact(stream, 4))
    if n > MAX_HEADER_BYTES:
        raise ProtocolError(f"header of {n} bytes exceeds {MAX_HEADER_BYTES}")
    try:
        header = json.loads(_read_exact(stream, n))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ProtocolError(f"header is not JSON: {exc}") from exc
    if not isinstance(header, dict) or not isinstance(header.get("tensors", []), list):
        raise ProtocolError("header must be a JSON object with a 'tensors' list")
    tensors, total = {}, 0
    for spec in header.pop("tensors", []):
        try:
            dtype = DTYPES[spec["dtype"]]
            shape = [int(s) for s in spec["shape"]]
            name = str(spec["name"])
        except (KeyError, TypeError, ValueError) as exc:
            raise ProtocolError(f"bad tensor description {spec!r}") from exc
        if any(s < 0 for s in shape):
            raise ProtocolError(f"negative shape {shape}")
        size = math.prod(shape) * torch.empty((), dtype=dtype).element_size()
        total += size
        if total > MAX_FRAME_BYTES:
            raise ProtocolError(f"frame exceeds {MAX_FRAME_BYTES} bytes")
        buf = bytearray(_read_exact(stream, size))
        flat = (
            torch.frombuffer(buf, dtype=torch.uint8) if size else torch.empty(0, dtype=torch.uint8)
        )
        tensors[name] = flat.view(dtype).reshape(shape) if size else torch.empty(shape, dtype=dtype)
    return header, tensors
