"""Local training backend: runs the harness (containers/trainer) in a child process.

A child process keeps the implementation's code out of the pipeline's interpreter, and
gives the harness a clean CUDA context. The harness checkpoints, so a run that timed out
or was interrupted resumes from its checkpoint when the day is run again.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from ...models import Implementation, TrainingRun
from ...training import apply_metrics
from .sandbox import limits, no_network_prefix, sandbox_env

GRACE_SECONDS = 30  # time the harness gets to checkpoint after SIGTERM
QUIET_PREFIXES = ("pf_metric ", "pf_eval ")


class SubprocessTrainer:
    name = "local"

    def __init__(
        self,
        workdir: Path,
        *,
        device: str = "auto",
        timeout_minutes: float = 30.0,
        echo: Callable[[str], None] = lambda line: print(line, flush=True),
        python: str = sys.executable,
    ) -> None:
        self.workdir = workdir
        self.device = device
        self.timeout = timeout_minutes * 60
        self.echo = echo
        self.python = python

    def command(
        self, impl_file: Path, run: TrainingRun, out: Path, paper_params: int | None = None
    ) -> list[str]:
        extra = ["--paper-params", str(paper_params)] if paper_params else []
        return [
            self.python, "-m", "paperfoundry_trainer", "train",
            "--impl", str(impl_file),
            "--task", run.task,
            "--budget", run.budget,
            "--device", self.device,
            "--out", str(out),
            "--checkpoint-dir", str(out / "checkpoints"),
            *extra,
        ]  # fmt: skip

    def submit(self, run: TrainingRun, implementation: Implementation) -> TrainingRun:
        if not implementation.source_code or not implementation.file_name:
            raise ValueError(f"implementation of {run.arxiv_id} has no source code")
        out = self.workdir / run.run_id
        impl_file = out / "impl" / Path(implementation.file_name).name
        impl_file.parent.mkdir(parents=True, exist_ok=True)
        impl_file.write_text(implementation.source_code)
        metrics_path = out / "metrics.json"
        metrics_path.unlink(missing_ok=True)  # never report a previous attempt's result

        tail: deque[str] = deque(maxlen=40)
        command = self.command(impl_file, run, out, implementation.paper_params)
        sandboxed: dict = {}
        if implementation.provenance == "llm":
            # LLM-written code trains in the sandbox: no credentials, no network.
            command = [*no_network_prefix(), *command]
            sandboxed = {"env": sandbox_env(out), "preexec_fn": limits(), "cwd": out}
        started = time.monotonic()
        proc = subprocess.Popen(
            command,
            **sandboxed,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            bufsize=1,
        )
        # A watchdog, not a check per output line: a hung child prints nothing.
        watchdog = threading.Timer(self.timeout, proc.send_signal, args=(signal.SIGTERM,))
        watchdog.start()
        assert proc.stdout is not None
        with (out / "harness.log").open("a") as log:
            for line in proc.stdout:
                log.write(line)
                line = line.rstrip("\n")
                tail.append(line)
                # Per-step metric lines are for SageMaker's MetricDefinitions; the console
                # gets the harness's progress and result table (the log keeps everything).
                if not line.startswith(QUIET_PREFIXES):
                    self.echo(line)
        watchdog.cancel()
        timed_out = time.monotonic() - started >= self.timeout
        try:
            code = proc.wait(timeout=GRACE_SECONDS)
        except subprocess.TimeoutExpired:
            proc.kill()
            code = proc.wait()

        run = run.model_copy(update={"job_name": str(out), "finished_at": datetime.now(UTC)})
        if metrics_path.is_file():
            try:
                run = apply_metrics(run, json.loads(metrics_path.read_text()))
            except json.JSONDecodeError as exc:
                run.status, run.error = "failed", f"metrics.json is not JSON: {exc}"
            run.metrics_uri = str(metrics_path)
            plot = out / "loss_curves.png"
            run.plot_uri = str(plot) if plot.is_file() else None
            if timed_out and run.status != "completed":
                run.status = "stopped"
                run.error = (
                    f"timed out after {self.timeout / 60:.0f} min; rerun resumes from checkpoint"
                )
            return run
        run.status = "stopped" if timed_out else "failed"
        reason = "timed out" if timed_out else f"harness exited with code {code}"
        run.error = f"{reason} without writing metrics.json; last output:\n" + "\n".join(tail)
        return run
