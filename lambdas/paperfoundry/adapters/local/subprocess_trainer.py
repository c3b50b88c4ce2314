"""Local training backend: runs the harness (containers/trainer) in a child process.

A child process keeps the implementation's code out of the pipeline's interpreter, and
gives the harness a clean CUDA context. The harness checkpoints, so a run that timed out
or was interrupted resumes from its checkpoint when the day is run again.

LLM-written code: the harness is started with `--isolation jail` (it stays trusted and runs
the candidate in a jailed worker, see `paperfoundry_trainer.jail`) and an environment
without credentials. Where no jail works the run is not started: it fails with
`not run: no isolation available (...)` (PAPERFOUNDRY_ALLOW_UNJAILED=1 overrides, loudly).
Shipped reference implementations run with `--isolation none`.

The harness leads its own process group: on timeout the group gets SIGTERM (the harness
checkpoints), then SIGKILL after the grace period; when it exits, whatever it left in its
group is killed; and a leftover process holding the output pipe cannot keep us waiting.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from paperfoundry_trainer import jail

from ...models import Implementation, TrainingRun
from ...training import apply_metrics, job_name_for
from .sandbox import allow_unjailed, no_network_prefix, not_run_message, sandbox_env, warn_unjailed

GRACE_SECONDS = 30  # time the harness gets to checkpoint after SIGTERM
PIPE_GRACE_SECONDS = 5  # after the harness exits, how long its output may still arrive
QUIET_PREFIXES = ("pf_metric ", "pf_eval ")
MAX_LINE = 1 << 16  # bytes per output line kept (a line without newlines cannot flood us)


def _wait_exit(proc: subprocess.Popen, timeout: float) -> bool:
    """Wait up to `timeout` for the process to exit, without reaping it (its group id
    stays ours until `wait`, so killing the group afterwards cannot hit a stranger)."""
    deadline = time.monotonic() + timeout
    while not jail.exited(proc):
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        time.sleep(min(0.2, left))
    return True


def _described(
    job: dict[str, Any], status: str, reason: str | None, tail: str = ""
) -> dict[str, Any]:
    return {"TrainingJobName": job["TrainingJobName"], "TrainingJobStatus": status,
            "FailureReason": reason, "out": job["out"], "tail": tail}  # fmt: skip


def _signal_group(proc: subprocess.Popen, sig: int) -> None:
    if proc.returncode is None:  # not reaped: the group id is still ours
        try:
            os.killpg(proc.pid, sig)
        except (ProcessLookupError, PermissionError):
            pass


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
        grace_seconds: float = GRACE_SECONDS,
    ) -> None:
        self.workdir = workdir
        self.device = device
        self.timeout = timeout_minutes * 60
        self.echo = echo
        self.python = python
        self.grace = grace_seconds

    def command(
        self,
        impl_file: Path,
        task: str,
        budget: str,
        out: Path,
        paper_params: int | None = None,
        isolation: str = "none",
    ) -> list[str]:
        extra = ["--paper-params", str(paper_params)] if paper_params else []
        return [
            self.python, "-m", "paperfoundry_trainer", "train",
            "--impl", str(impl_file),
            "--task", task,
            "--budget", budget,
            "--device", self.device,
            "--out", str(out),
            "--checkpoint-dir", str(out / "checkpoints"),
            "--isolation", isolation,
            *extra,
        ]  # fmt: skip

    def job(self, run: TrainingRun, implementation: Implementation) -> dict[str, Any]:
        """The job: what `run_job` needs (nothing is written yet: LLM code without a jail
        never reaches the disk)."""
        if not implementation.source_code or not implementation.file_name:
            raise ValueError(f"implementation of {run.arxiv_id} has no source code")
        out = self.workdir / run.run_id
        return {
            "TrainingJobName": job_name_for(run.run_id, run.attempt),
            "out": str(out),
            "impl": str(out / "impl" / Path(implementation.file_name).name),
            "source": implementation.source_code,
            "task": run.task,
            "budget": run.budget,
            "paper_params": implementation.paper_params,
            "llm_code": implementation.provenance == "llm",
        }

    def run_job(self, job: dict[str, Any]) -> dict[str, Any]:
        """Run the harness to its end (what SageMaker does for a job on AWS); returns the
        job's description: TrainingJobStatus Completed, Failed or Stopped (timed out)."""
        out, isolation, prefix, popen_kwargs = Path(job["out"]), "none", [], {}
        if job["llm_code"]:
            reason = jail.probe()
            if reason is None:
                isolation = "jail"  # the harness (trusted) runs the code in a jailed worker
            elif allow_unjailed():
                warn_unjailed("training")
                # the old sandbox: no network if permitted, file size limit, no core files
                limits = jail.Limits(max_processes=None, tmp_bytes=None)
                prefix = jail.limit_argv([*no_network_prefix()], limits)
            else:  # LLM-written code does not run without a jail
                return {**_described(job, "Failed", not_run_message(reason)), "not_run": True}
            # the harness needs no credentials to train LLM-written code
            popen_kwargs = {"env": sandbox_env(out), "cwd": out}
        impl_file = Path(job["impl"])
        impl_file.parent.mkdir(parents=True, exist_ok=True)
        impl_file.write_text(job["source"])
        (out / "metrics.json").unlink(missing_ok=True)  # never report an earlier attempt's
        tail: deque[str] = deque(maxlen=40)
        command = self.command(
            impl_file, job["task"], job["budget"], out, job["paper_params"], isolation
        )
        code, timed_out = self._run([*prefix, *command], out / "harness.log", tail, popen_kwargs)
        if timed_out:
            return _described(job, "Stopped", "timed out", "\n".join(tail))
        if code != 0:
            return _described(job, "Failed", f"harness exited with code {code}", "\n".join(tail))
        return _described(job, "Completed", None, "\n".join(tail))

    def collect(
        self,
        run: TrainingRun,
        *,
        result: dict[str, Any] | None = None,
        error: dict[str, Any] | None = None,
    ) -> TrainingRun:
        """The run's state after its job ended (`result` is `run_job`'s description)."""
        if result is None:  # the job never reported: nothing ran to completion here
            why = (error or {}).get("Cause") or "the training job did not report"
            return run.model_copy(update={
                "status": "failed", "error": str(why)[:2000], "finished_at": datetime.now(UTC),
            })  # fmt: skip
        out = Path(result["out"])
        run = run.model_copy(update={"job_name": str(out), "finished_at": datetime.now(UTC)})
        status = result["TrainingJobStatus"]
        if result.get("not_run"):
            return run.model_copy(update={"status": "failed", "error": result["FailureReason"]})
        metrics_path = out / "metrics.json"
        if metrics_path.is_file():
            try:
                run = apply_metrics(run, json.loads(metrics_path.read_text()))
            except json.JSONDecodeError as exc:
                run.status, run.error = "failed", f"metrics.json is not JSON: {exc}"
            run.metrics_uri = str(metrics_path)
            plot = out / "loss_curves.png"
            run.plot_uri = str(plot) if plot.is_file() else None
            if status == "Stopped" and run.status != "completed":
                run.status = "stopped"
                run.error = (
                    f"timed out after {self.timeout / 60:.0f} min; rerun resumes from checkpoint"
                )
            return run
        run.status = "stopped" if status == "Stopped" else "failed"
        reason = "timed out" if status == "Stopped" else (result.get("FailureReason") or status)
        run.error = f"{reason} without writing metrics.json; last output:\n{result['tail']}"
        return run

    def submit(self, run: TrainingRun, implementation: Implementation) -> TrainingRun:
        """Prepare, run and collect in one call."""
        return self.collect(run, result=self.run_job(self.job(run, implementation)))

    def _pump(self, stream, log_path: Path, tail: deque[str]) -> None:
        """Copy the harness's output to its log, the console and the tail (a thread)."""
        with stream, log_path.open("a") as log:
            while raw := stream.readline(MAX_LINE):
                line = raw.decode("utf-8", errors="replace")
                log.write(line)
                log.flush()
                line = line.rstrip("\n")
                tail.append(line)
                # Per-step metric lines are for SageMaker's MetricDefinitions; the console
                # gets the harness's progress and result table (the log keeps everything).
                if not line.startswith(QUIET_PREFIXES):
                    self.echo(line)

    def _run(
        self, command: list[str], log_path: Path, tail: deque[str], popen_kwargs: dict
    ) -> tuple[int, bool]:
        """Run the harness to the end or the timeout; returns (exit code, timed out)."""
        proc = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: killed whole below
            **popen_kwargs,
        )
        assert proc.stdout is not None
        reader = threading.Thread(target=self._pump, args=(proc.stdout, log_path, tail),
                                  daemon=True)  # fmt: skip
        reader.start()
        # A deadline on the process, not a check per output line: a hung child prints nothing.
        timed_out = not _wait_exit(proc, self.timeout)
        if timed_out:
            _signal_group(proc, signal.SIGTERM)  # the harness checkpoints and exits
            _wait_exit(proc, self.grace)
        _signal_group(proc, signal.SIGKILL)  # the harness if still there, and its leftovers
        code = proc.wait()
        jail.wait_group_gone(proc.pid)
        reader.join(timeout=PIPE_GRACE_SECONDS)
        if reader.is_alive():  # a process outside its group still holds the pipe: let go
            tail.append("(output pipe still held open by a leftover process; stopped reading)")
        return code, timed_out
