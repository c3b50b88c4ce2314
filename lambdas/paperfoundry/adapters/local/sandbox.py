"""Where LLM-written code runs on one machine: the bubblewrap jail, or not at all.

The jail (`paperfoundry_trainer.jail`): new user/pid/network/IPC/UTS namespaces, `nobody`
without capabilities, a read-only view of only the interpreter, the trainer package and the
implementation file, a fresh tmpfs as the only writable place, an empty environment,
resource limits, and the whole process tree killed on timeout. Used for the implementer's
validation (`SandboxValidator`) and, through the harness's `--isolation jail` worker, for
training LLM-written code locally (`SubprocessTrainer`). On AWS the same code runs only
inside the network-isolated SageMaker training job.

Where no jail works (no bubblewrap, user namespaces forbidden) LLM-written code is not run:
it is reported `not run: no isolation available (<why, how to enable>)`. Setting
PAPERFOUNDRY_ALLOW_UNJAILED=1 runs it anyway in the old, weaker sandbox (empty environment,
resource limits, `unshare -rn` if permitted), with a warning every time. Reference
implementations shipped with the project are trusted and run without a jail.
"""

from __future__ import annotations

import functools
import logging
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from paperfoundry_trainer import jail

from ...models import Failure

ALLOW_UNJAILED_ENV = "PAPERFOUNDRY_ALLOW_UNJAILED"
# Variables a child needs to find its interpreter and GPUs; everything else is dropped.
PASSED_ENV = ("PATH", "LANG", "LC_ALL", "TZ", "CUDA_VISIBLE_DEVICES", "NVIDIA_VISIBLE_DEVICES",
              "LD_LIBRARY_PATH")  # fmt: skip
FILE_SIZE_LIMIT = 1 << 30  # 1 GiB: checkpoints and metrics, not a full disk
MEMORY_LIMIT = 16 << 30  # address space for validation (CPU only)

log = logging.getLogger(__name__)


def sandbox_env(home: Path) -> dict[str, str]:
    """An environment without credentials or proxies: what a child needs, nothing more."""
    env = {k: os.environ[k] for k in PASSED_ENV if k in os.environ}
    env.update(HOME=str(home), TMPDIR=str(home), PYTHONNOUSERSITE="1", OMP_NUM_THREADS="1")
    return env


@functools.cache
def no_network_prefix() -> tuple[str, ...]:
    """`unshare -rn` when it works here (user namespaces allowed), else nothing.
    Only for the unjailed override: the jail has its own network namespace."""
    unshare = shutil.which("unshare")
    if unshare is None:
        return ()
    try:
        ok = subprocess.run([unshare, "-rn", "true"], capture_output=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return ()
    return (unshare, "-rn") if ok.returncode == 0 else ()


def allow_unjailed() -> bool:
    """The explicit, loud opt-in to run LLM-written code without a jail."""
    return os.environ.get(ALLOW_UNJAILED_ENV, "").strip() == "1"


def not_run_message(reason: str) -> str:
    return f"not run: no isolation available ({reason})"


def isolation_unavailable() -> str | None:
    """None when LLM-written code may run here (a jail works, or the opt-in is set), else
    the reason a pick reports: `not run: no isolation available (...)`."""
    reason = jail.probe()
    if reason is None or allow_unjailed():
        return None
    return not_run_message(reason)


def warn_unjailed(what: str) -> None:
    """Printed every time LLM-written code runs without a jail: never a silent downgrade."""
    message = (
        f"WARNING: {what} runs LLM-written code WITHOUT a jail ({ALLOW_UNJAILED_ENV}=1): "
        f"it can read your files and credentials. Why no jail: {jail.probe()}"
    )
    print(message, file=sys.stderr, flush=True)
    log.warning(message)


def describe() -> str:
    if jail.probe() is None:
        return "local sandbox: bubblewrap jail (no network, no host files, no environment)"
    if allow_unjailed():
        net = "no network" if no_network_prefix() else "network NOT isolated"
        return f"local sandbox WITHOUT a jail ({ALLOW_UNJAILED_ENV}=1): empty environment, {net}"
    return "local sandbox: no isolation available (code not run)"


class SandboxValidator:
    """The harness's validation of generated code, in the jail, on CPU."""

    def __init__(self, budget: str, timeout_seconds: float = 600.0) -> None:
        self.budget = budget
        self.timeout = timeout_seconds

    @property
    def name(self) -> str:
        return describe()

    @property
    def unavailable(self) -> str | None:
        """Why code would not run here (`not run: no isolation available (...)`), or None."""
        return isolation_unavailable()

    def check(self, source: str, file_name: str, task: str) -> dict:
        """The harness's structured result: {"ok": True, "params": n} or {"ok": False,
        "failure": {...}}; stage "isolation" when the code was not run (no jail)."""
        from paperfoundry_trainer.spec import get_budget
        from paperfoundry_trainer.validate import isolation_failure, validate_in_subprocess

        spec = get_budget(task, self.budget).spec
        reason = jail.probe()
        if reason is not None and not allow_unjailed():
            return isolation_failure(reason)  # nothing written, nothing run
        cpu = int(self.timeout) + 30
        with tempfile.TemporaryDirectory(prefix="pf-sandbox-") as tmp:
            home = Path(tmp)
            impl = home / Path(file_name).name
            impl.write_text(source)
            if reason is None:
                limits = jail.Limits(cpu_seconds=cpu, memory_bytes=MEMORY_LIMIT,
                                     file_size_bytes=FILE_SIZE_LIMIT)  # fmt: skip
                return validate_in_subprocess(
                    impl, spec, "cpu", timeout=self.timeout, isolation="jail", limits=limits
                )
            warn_unjailed("validation")
            limits = jail.Limits(cpu_seconds=cpu, memory_bytes=MEMORY_LIMIT,
                                 file_size_bytes=FILE_SIZE_LIMIT, max_processes=None)  # fmt: skip
            return validate_in_subprocess(
                impl, spec, "cpu", timeout=self.timeout, isolation="none",
                env=sandbox_env(home), prefix=no_network_prefix(), limits=limits, cwd=home,
            )  # fmt: skip

    def validate(self, source: str, file_name: str, task: str) -> Failure | None:
        result = self.check(source, file_name, task)
        if result.get("ok"):
            return None
        return Failure.model_validate(result["failure"])
