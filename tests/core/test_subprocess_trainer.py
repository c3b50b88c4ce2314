"""The local training backend against the real harness (tiny budget, CPU)."""

from datetime import date

import pytest
from paperfoundry.adapters.local.subprocess_trainer import SubprocessTrainer
from paperfoundry.implement import from_library
from paperfoundry.models import Implementation, TrainingRun

DAY = date(2026, 11, 20)


def run_for(task: str = "mqar", budget: str = "tiny") -> TrainingRun:
    return TrainingRun(
        run_id=f"pf-20261120-test-{task}", arxiv_id="2402.18668", day=DAY, task=task,
        budget=budget, backend="local",
    )  # fmt: skip


def broken(source: str) -> Implementation:
    return Implementation(
        arxiv_id="2402.18668", status="implemented", name="broken", task="mqar",
        file_name="broken.py", source_code=source, provenance="llm",
    )  # fmt: skip


def test_reference_implementation_completes_with_verdict_and_log(tmp_path):
    lines: list[str] = []
    backend = SubprocessTrainer(tmp_path, device="cpu", echo=lines.append)
    run = backend.submit(run_for(), from_library("2402.18668"))
    assert run.status == "completed", run.error
    assert run.verdict is not None and run.verdict.metric == "query_accuracy"
    assert run.curves["candidate"] and run.curves["baseline"]
    log = (tmp_path / run.run_id / "harness.log").read_text()
    assert "pf_metric" in log and not any(line.startswith("pf_metric") for line in lines)


def test_broken_implementation_is_a_failed_run_with_the_structured_failure(tmp_path):
    backend = SubprocessTrainer(tmp_path, device="cpu", echo=lambda line: None)
    run = backend.submit(run_for(), broken("import torch\ndef build_model(spec):\n  return (\n"))
    assert run.status == "failed"
    assert run.failure is not None and run.failure.stage == "import"
    assert run.failure.type == "SyntaxError"


@pytest.mark.slow
def test_timeout_stops_the_harness_and_says_a_rerun_resumes(tmp_path):
    backend = SubprocessTrainer(tmp_path, device="cpu", timeout_minutes=0.1, echo=print)
    run = backend.submit(run_for(budget="small"), from_library("2402.18668"))
    assert run.status == "stopped"
    assert "timed out" in run.error
    assert any((tmp_path / run.run_id / "checkpoints").iterdir())
