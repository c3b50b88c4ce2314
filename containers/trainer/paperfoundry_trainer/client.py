"""The controller's side of a worker: start it (jailed or not), call it, kill it.

Every call has a deadline; a worker that hangs, dies, or answers with a malformed frame
becomes a `WorkerError` carrying a structured failure, and its whole process tree is killed.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections import deque
from pathlib import Path

from . import protocol

PKG_ROOT = Path(__file__).resolve().parent.parent


STAGES = {"build": "build", "predict": "forward", "bench": "forward"}  # else "train"


def as_failure(raw, stage: str, message: str) -> dict:
    """A failure in the schema's shape from whatever came back: the worker (or validation)
    runs the candidate's code, so its answer may be anything JSON can hold."""
    raw = raw if isinstance(raw, dict) else {}

    def text(key: str, default: str, limit: int) -> str:
        value = raw.get(key)
        return value[:limit] if isinstance(value, str) and value else default

    return {
        "stage": text("stage", stage, 40),
        "type": text("type", "MalformedReply", 100),
        "message": text("message", message, 2000),
        "traceback": text("traceback", "", 4000),
    }


class WorkerError(Exception):
    def __init__(self, info: dict):
        super().__init__(info.get("message", "worker failed"))
        self.info = info


class Worker:
    """One worker process. `isolation` is "none" (shipped reference code) or "jail"."""

    def __init__(self, *, isolation: str, ro_paths=(), gpu=False, cpu_seconds=None, memory=None,
                 threads: int | None = None):  # fmt: skip
        argv = [sys.executable, "-m", "paperfoundry_trainer.worker"]
        threads_env = {"OMP_NUM_THREADS": str(threads or 1)}
        self.stderr_tail: deque[str] = deque(maxlen=30)
        if isolation == "jail":
            from . import jail

            env = {"PYTHONPATH": str(PKG_ROOT), **threads_env}
            for key in ("CUDA_VISIBLE_DEVICES", "NVIDIA_VISIBLE_DEVICES", "LD_LIBRARY_PATH"):
                if key in os.environ:
                    env[key] = os.environ[key]
            # threads count as processes for RLIMIT_NPROC: leave room for torch's pools
            limits = jail.Limits(cpu_seconds=cpu_seconds, memory_bytes=memory, max_processes=256)
            self.proc = jail.popen(
                argv,
                ro_paths=[str(p) for p in ro_paths],
                limits=limits,
                gpu=gpu,
                env=env,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
            )
        elif isolation == "none":
            env = dict(os.environ)
            env["PYTHONPATH"] = os.pathsep.join(
                p for p in (str(PKG_ROOT), env.get("PYTHONPATH")) if p
            )
            env.update(threads_env)
            self.proc = subprocess.Popen(
                argv,
                env=env,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                start_new_session=True,  # its own process group: kill() takes the whole tree
            )
        else:
            raise ValueError(f"unknown isolation {isolation!r}")
        self._drain = threading.Thread(target=self._read_stderr, daemon=True)
        self._drain.start()

    def _read_stderr(self) -> None:
        for raw in self.proc.stderr:
            line = raw.decode("utf-8", "replace").rstrip()
            if line and "Failed to initialize NumPy" not in line:
                self.stderr_tail.append(line[:500])

    def call(self, op: str, timeout: float, tensors=None, **fields):
        """Send one request, wait for its reply; (header, tensors) or WorkerError."""
        timer = threading.Timer(timeout, self.kill)
        timer.start()
        started = time.monotonic()
        try:
            protocol.send(self.proc.stdin, {"op": op, **fields}, tensors)
            header, out = protocol.recv(self.proc.stdout)
        except (protocol.ProtocolError, OSError, ValueError) as exc:
            timed_out = time.monotonic() - started >= timeout
            self.kill()
            raise WorkerError(self._died(op, exc, timed_out, timeout)) from exc
        finally:
            timer.cancel()
        if header.get("ok") is not True:
            msg = f"the worker's answer to {op!r} was not a valid reply"
            raise WorkerError(as_failure(header.get("failure"), STAGES.get(op, "train"), msg))
        return header, out

    def _died(self, op, exc, timed_out, timeout) -> dict:
        stage = {"build": "build", "predict": "forward", "bench": "forward"}.get(op, "train")
        if timed_out:
            return {
                "stage": stage,
                "type": "TimeoutExpired",
                "message": f"worker did not answer {op!r} within {timeout:.0f}s",
                "traceback": "",
            }
        return {
            "stage": stage,
            "type": "ProcessDied",
            "message": f"worker died during {op!r} ({type(exc).__name__}: {exc})",
            "traceback": "\n".join(self.stderr_tail)[-2000:],
        }

    def kill(self) -> None:
        from . import jail  # stdlib only; kills the group before reaping (no pid reuse race)

        jail.kill_tree(self.proc)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass

    def close(self) -> None:
        from . import jail

        try:
            if not jail.exited(self.proc):  # never reap before the group is killed
                self.call("exit", timeout=10)
        except WorkerError:
            pass
        finally:
            self.kill()
            for stream in (self.proc.stdin, self.proc.stdout):
                try:
                    stream.close()
                except OSError:
                    pass
