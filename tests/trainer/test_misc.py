"""prepare-data (local HTTP server, built-in corpus); task invariants; hadolint."""

from __future__ import annotations

import functools
import http.server
import math
import subprocess
import threading
from pathlib import Path

import pytest
import torch
from conftest import ROOT, hadolint_binary
from paperfoundry_trainer.cli import main
from paperfoundry_trainer.data import builtin_text, ensure_builtin
from paperfoundry_trainer.spec import get_budget
from paperfoundry_trainer.tasks import IGNORE, MQAR, VAL_SEED, ByteLM, make_task, unigram_entropy

RECORDED = (
    "First Citizen:\nBefore we proceed any further, hear me speak.\n\nAll:\nSpeak, speak.\n\n"
) * 60


@pytest.fixture
def http_corpus(tmp_path):
    root = tmp_path / "www"
    root.mkdir()
    (root / "input.txt").write_text(RECORDED)
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    handler.log_message = lambda *a, **k: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/input.txt"
    server.shutdown()


def read_splits(out: Path) -> tuple[bytes, bytes, bytes]:
    return tuple((out / f"{s}.bin").read_bytes() for s in ("train", "val", "test"))


def test_prepare_data_downloads_and_splits(http_corpus, tmp_path):
    out = tmp_path / "data"
    argv = ["prepare-data", "--corpus", "tiny-shakespeare", "--out", str(out), "--url", http_corpus]
    assert main(argv) == 0
    train, val, test = read_splits(out)
    assert train + val + test == RECORDED.encode()  # contiguous, nothing lost or shared
    assert len(train) == int(len(RECORDED) * 0.9)
    assert abs(len(val) - len(test)) <= 1


def test_prepare_data_url_from_env(http_corpus, tmp_path, monkeypatch):
    monkeypatch.setenv("PF_CORPUS_URL", http_corpus)
    assert main(["prepare-data", "--out", str(tmp_path / "d")]) == 0
    assert all(len(b) > 0 for b in read_splits(tmp_path / "d"))


def test_prepare_data_reports_http_errors(http_corpus, tmp_path):
    missing = http_corpus.replace("input.txt", "missing.txt")
    assert main(["prepare-data", "--out", str(tmp_path / "d"), "--url", missing]) == 1


def test_prepare_data_unknown_corpus_is_usage_error(tmp_path, monkeypatch):
    monkeypatch.delenv("PF_CORPUS_URL", raising=False)
    assert main(["prepare-data", "--corpus", "nope", "--out", str(tmp_path / "d")]) == 64


def test_prepare_data_builtin_corpus_works_offline(tmp_path, monkeypatch):
    def no_network(*_a, **_k):
        raise AssertionError("the built-in corpus must not touch the network")

    monkeypatch.setattr("paperfoundry_trainer.data.download", no_network)
    out = tmp_path / "docs"
    assert main(["prepare-data", "--corpus", "python-docs", "--out", str(out)]) == 0
    train, val, test = read_splits(out)
    assert train + val + test == builtin_text()
    assert len(builtin_text()) > 200_000 and len(val) > 10_000 and len(test) > 10_000
    # the same bytes ensure_builtin writes for `lm` without --data; it writes once
    again = ensure_builtin(tmp_path / "again")
    assert read_splits(again) == (train, val, test)
    stamp = (again / "test.bin").stat().st_mtime_ns
    assert ensure_builtin(again) == again and (again / "test.bin").stat().st_mtime_ns == stamp


def test_mqar_batches_are_deterministic_and_well_formed():
    task = MQAR(vocab_size=16, seq_len=16, num_kv_pairs=4)
    x, y = task.batch(8, seed=3, step=7)
    x2, y2 = task.batch(8, seed=3, step=7)
    assert torch.equal(x, x2) and torch.equal(y, y2)
    assert not torch.equal(x, task.batch(8, seed=3, step=8)[0])
    assert not torch.equal(x, task.batch(8, seed=4, step=7)[0])
    mask = y != IGNORE
    assert mask.sum(1).eq(4).all()  # one label per query
    assert torch.equal(mask[0].nonzero().flatten(), task.loss_positions)
    for b in range(8):
        keys, values = x[b, 0:8:2].tolist(), x[b, 1:8:2].tolist()
        assert len(set(keys)) == 4  # unique keys
        assert all(k < 8 for k in keys) and all(v >= 8 for v in values)  # disjoint halves
        pairs = dict(zip(keys, values, strict=True))
        for pos in mask[b].nonzero().flatten().tolist():
            assert y[b, pos].item() == pairs[x[b, pos].item()] == x[b, pos + 1].item()


def test_mqar_eval_splits_and_probe_helpers():
    spec = get_budget("mqar", "tiny").spec
    task = make_task("mqar", spec, {"num_kv_pairs": 4})
    val, val2 = task.eval_set(VAL_SEED, 2, 8), task.eval_set(VAL_SEED, 2, 8)
    assert all(torch.equal(a[0], b[0]) for a, b in zip(val, val2, strict=True))
    test = task.eval_set(123_456_789, 2, 8)
    assert not torch.equal(val[0][0], test[0][0])
    g = torch.Generator().manual_seed(0)
    x = val[0][0]
    for _ in range(20):
        t = task.probe_position(g)
        assert t - 1 in task.loss_positions.tolist()  # a value slot right after a query key
        x2 = task.perturb_suffix(x, t, g)
        assert torch.equal(x2[:, :t], x[:, :t])
        assert torch.equal(x2[:, t:] < task.n_keys, x[:, t:] < task.n_keys)  # same kinds
    # scoring: logits that put all mass on the right value score 1, wrong ones 0
    x, y = val[0]
    labels = y[:, task.loss_positions]
    perfect = torch.nn.functional.one_hot(labels, spec.vocab_size).float()
    assert task.score(perfect, y).eq(1).all()
    assert task.score(perfect.roll(1, -1), y).eq(0).all()


def test_bytelm_splits_and_entropy(tmp_path):
    (tmp_path / "train.txt").write_text("abcd" * 200)
    (tmp_path / "val.txt").write_text("0123456789" * 40)  # no test split: val is halved
    task = ByteLM(tmp_path, seq_len=16)
    assert len(task.data["val"]) == len(task.data["test"]) == 200
    assert bytes(task.data["test"].tolist()) == b"0123456789" * 20
    a, b = task.eval_set("test", 2, 4), task.eval_set("test", 2, 4)
    assert all(torch.equal(p[0], q[0]) for p, q in zip(a, b, strict=True))
    x, y = a[0]
    assert x.shape == y.shape == (4, 16) and torch.equal(x[:, 1:], y[:, :-1])
    # a uniform guess over 256 bytes is 8 bits/byte; the exact answer 0
    uniform = torch.zeros(4, 16, 256)
    assert task.score(uniform, y).sub(8).abs().max() < 1e-4
    assert unigram_entropy(torch.arange(256, dtype=torch.uint8)) == pytest.approx(8.0)
    assert unigram_entropy(torch.zeros(100, dtype=torch.uint8)) == 0.0
    two = torch.tensor([1, 2] * 50, dtype=torch.uint8)
    assert unigram_entropy(two) == pytest.approx(1.0)
    assert math.isclose(unigram_entropy(task.data["test"]), math.log2(10), rel_tol=1e-9)


def test_dockerfile_passes_hadolint():
    binary = hadolint_binary()
    if binary is None:
        pytest.skip("hadolint not installed")
    dockerfile = Path(ROOT / "containers" / "trainer" / "Dockerfile")
    proc = subprocess.run([binary, str(dockerfile)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
