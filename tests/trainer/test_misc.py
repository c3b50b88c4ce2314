"""prepare-data against a local HTTP server; hadolint on the Dockerfile; task invariants."""

from __future__ import annotations

import functools
import http.server
import subprocess
import threading
from pathlib import Path

import pytest
import torch
from conftest import ROOT, hadolint_binary
from paperfoundry_trainer.cli import main
from paperfoundry_trainer.tasks import IGNORE, MQAR

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


def test_prepare_data_downloads_and_splits(http_corpus, tmp_path):
    out = tmp_path / "data"
    assert (
        main(
            [
                "prepare-data",
                "--corpus",
                "tiny-shakespeare",
                "--out",
                str(out),
                "--url",
                http_corpus,
            ]
        )
        == 0
    )
    train, val = (out / "train.bin").read_bytes(), (out / "val.bin").read_bytes()
    assert train + val == RECORDED.encode()
    assert len(train) == int(len(RECORDED) * 0.9)


def test_prepare_data_url_from_env(http_corpus, tmp_path, monkeypatch):
    monkeypatch.setenv("PF_CORPUS_URL", http_corpus)
    assert main(["prepare-data", "--out", str(tmp_path / "d")]) == 0
    assert (tmp_path / "d" / "val.bin").stat().st_size > 0


def test_prepare_data_reports_http_errors(http_corpus, tmp_path):
    assert (
        main(
            [
                "prepare-data",
                "--out",
                str(tmp_path / "d"),
                "--url",
                http_corpus.replace("input.txt", "missing.txt"),
            ]
        )
        == 1
    )


def test_mqar_batches_are_deterministic_and_well_formed():
    task = MQAR(vocab_size=16, seq_len=16, num_kv_pairs=4)
    x, y = task.batch(8, seed=3, step=7)
    x2, y2 = task.batch(8, seed=3, step=7)
    assert torch.equal(x, x2) and torch.equal(y, y2)
    assert not torch.equal(x, task.batch(8, seed=3, step=8)[0])
    mask = y != IGNORE
    assert mask.sum(1).eq(4).all()  # one label per query
    for b in range(8):
        pairs = dict(zip(x[b, 0:8:2].tolist(), x[b, 1:8:2].tolist(), strict=True))
        assert len(pairs) == 4  # unique keys
        for pos in mask[b].nonzero().flatten().tolist():
            assert pairs[x[b, pos].item()] == y[b, pos].item()


def test_dockerfile_passes_hadolint():
    binary = hadolint_binary()
    if binary is None:
        pytest.skip("hadolint not installed")
    dockerfile = Path(ROOT / "containers" / "trainer" / "Dockerfile")
    proc = subprocess.run([binary, str(dockerfile)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
