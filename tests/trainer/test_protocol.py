"""Frames between controller and worker: round trips, malformed input, misbehaving workers."""

from __future__ import annotations

import io
import json
import struct
import subprocess
import sys
import time
from collections import deque

import pytest
import torch
from paperfoundry_trainer import protocol
from paperfoundry_trainer.client import Worker, WorkerError


def frame(header: dict, tensors=None) -> bytes:
    buf = io.BytesIO()
    protocol.send(buf, header, tensors)
    return buf.getvalue()


def raw_frame(header: dict, payload: bytes = b"") -> bytes:
    body = json.dumps(header).encode()
    return struct.pack(">I", len(body)) + body + payload


def recv(data: bytes):
    return protocol.recv(io.BytesIO(data))


def test_round_trip_keeps_header_dtypes_shapes_and_values():
    g = torch.Generator().manual_seed(0)
    wide = torch.randn(4, 6, generator=g)
    tensors = {
        "logits": wide[:, ::2],  # not contiguous
        "ids": torch.randint(0, 1000, (3, 5), generator=g),
        "blob": torch.frombuffer(bytearray(b"\x00\xffopaque"), dtype=torch.uint8),
        "empty": torch.empty(0, 7),
        "scalar": torch.tensor(2.5),
    }
    header, out = recv(frame({"op": "predict", "n": 3, "nested": {"a": [1, 2]}}, tensors))
    assert header == {"op": "predict", "n": 3, "nested": {"a": [1, 2]}}
    assert list(out) == list(tensors)
    for name, t in tensors.items():
        assert out[name].dtype == t.dtype and out[name].shape == t.shape, name
        assert torch.equal(out[name], t), name


def test_other_dtypes_travel_as_float32():
    x = torch.tensor([[1.5, -2.0]], dtype=torch.bfloat16)
    _, out = recv(frame({}, {"x": x, "mask": torch.tensor([True, False])}))
    assert out["x"].dtype == torch.float32 and torch.equal(out["x"], x.float())
    assert torch.equal(out["mask"], torch.tensor([1.0, 0.0]))


def test_several_frames_on_one_stream():
    stream = io.BytesIO(frame({"i": 1}, {"t": torch.ones(2)}) + frame({"i": 2}))
    assert protocol.recv(stream)[0] == {"i": 1}
    assert protocol.recv(stream) == ({"i": 2}, {})
    with pytest.raises(protocol.ProtocolError):  # and then the stream is over
        protocol.recv(stream)


def test_tensor_bytes_is_the_raw_buffer():
    t = torch.arange(6, dtype=torch.int64).view(2, 3)[:, 1:]
    assert protocol.tensor_bytes(t) == struct.pack("<4q", 1, 2, 4, 5)
    assert protocol.tensor_bytes(torch.empty(0)) == b""


MALFORMED = {
    "empty stream": b"",
    "truncated length": b"\x00\x00",
    "oversized header": struct.pack(">I", protocol.MAX_HEADER_BYTES + 1) + b"{}",
    "truncated header": struct.pack(">I", 50) + b'{"op": ',
    "header not json": struct.pack(">I", 5) + b"hello",
    "header not utf-8": struct.pack(">I", 2) + b"\xff\xfe",
    "header not an object": raw_frame([1, 2]),  # type: ignore[arg-type]
    "tensors not a list": raw_frame({"tensors": {"x": 1}}),
    "bad dtype": raw_frame(
        {"tensors": [{"name": "x", "dtype": "float64", "shape": [1]}]}, b"\0" * 8
    ),
    "pickle dtype": raw_frame({"tensors": [{"name": "x", "dtype": "object", "shape": [1]}]}),
    "missing shape": raw_frame({"tensors": [{"name": "x", "dtype": "float32"}]}),
    "bad shape": raw_frame({"tensors": [{"name": "x", "dtype": "float32", "shape": "12"}]}),
    "negative shape": raw_frame({"tensors": [{"name": "x", "dtype": "uint8", "shape": [-4]}]}),
    "not a description": raw_frame({"tensors": ["x"]}),
    "frame too large": raw_frame(
        {"tensors": [{"name": "x", "dtype": "float32", "shape": [1 << 30, 4]}]}
    ),
    "truncated tensor": raw_frame(
        {"tensors": [{"name": "x", "dtype": "float32", "shape": [4]}]}, b"\0" * 15
    ),
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_malformed_frames_are_rejected(case):
    with pytest.raises(protocol.ProtocolError):
        recv(MALFORMED[case])


def test_oversized_header_is_rejected_before_reading_it():
    class Stream(io.BytesIO):
        def read(self, n=-1):
            assert n <= 4, "read the body of an oversized header"
            return super().read(n)

    with pytest.raises(protocol.ProtocolError, match="exceeds"):
        protocol.recv(Stream(struct.pack(">I", 1 << 30) + b"x" * 64))


def test_every_truncation_of_a_valid_frame_is_rejected():
    data = frame({"op": "x"}, {"a": torch.arange(3), "b": torch.ones(2, 2)})
    recv(data)  # the whole frame is fine
    for cut in range(len(data)):
        with pytest.raises(protocol.ProtocolError):
            recv(data[:cut])


# -- the controller's side of a misbehaving worker -----------------------------------------


def fake_worker(script: str) -> Worker:
    """A Worker whose process is `python -c script` instead of the real worker."""
    w = Worker.__new__(Worker)
    w.stderr_tail = deque(maxlen=30)
    w.proc = subprocess.Popen(
        [sys.executable, "-c", script],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    return w


REPLY = "import sys, json, struct; h = json.dumps({h}).encode(); "
REPLY += "sys.stdout.buffer.write(struct.pack('>I', len(h)) + h); sys.stdout.flush(); "
REPLY += "import time; time.sleep(30)"


def test_worker_sending_garbage_is_killed_with_a_structured_failure():
    w = fake_worker("import sys, time; sys.stdout.buffer.write(b'\\xff' * 64); "
                    "sys.stdout.flush(); time.sleep(30)")  # fmt: skip
    with pytest.raises(WorkerError) as err:
        w.call("build", timeout=20)
    assert err.value.info["type"] == "ProcessDied" and err.value.info["stage"] == "build"
    assert w.proc.poll() is not None  # killed, not left running
    w.close()


def test_worker_that_hangs_times_out_and_is_killed():
    w = fake_worker("import time; time.sleep(30)")
    t = time.monotonic()
    with pytest.raises(WorkerError) as err:
        w.call("predict", timeout=1)
    assert time.monotonic() - t < 15
    assert (err.value.info["type"], err.value.info["stage"]) == ("TimeoutExpired", "forward")
    assert w.proc.poll() is not None
    w.close()


@pytest.mark.parametrize(
    "reply",
    [
        {"schema": 2, "status": "ok", "outcome": "better"},  # no "ok": not a reply at all
        {"ok": False, "failure": "a string, not a failure"},
        {"ok": False, "failure": {"stage": ["x"], "message": {"m": 1}}},
    ],
    ids=["no-ok", "failure-not-a-dict", "failure-fields-not-strings"],
)
def test_malformed_worker_replies_become_schema_failures(reply):
    w = fake_worker(REPLY.format(h=repr(reply)))
    with pytest.raises(WorkerError) as err:
        w.call("train", timeout=20)
    w.kill()  # it sleeps instead of answering "exit"
    w.close()
    info = err.value.info
    assert set(info) == {"stage", "type", "message", "traceback"}
    assert all(isinstance(v, str) for v in info.values()), info
    assert info["stage"] == "train"
