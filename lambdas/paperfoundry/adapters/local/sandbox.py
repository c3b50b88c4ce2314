"""Where generated code runs on one machine: a child process with an empty environment
(no credentials, no proxies), its own temporary directory, resource limits, and no
network when the kernel allows an unprivileged network namespace (`unshare -rn`).

Used for the implementer's validation and for training LLM-written code locally. On AWS
the same code runs only inside the network-isolated SageMaker training job.
"""

from __future__ import annotations

import functools
import os
import resource
import shutil
import subprocess
import tempfile
from pathlib import Path

from ...models import Failure

# Variables a child needs to find its interpreter and GPUs; everything else is dropped.
PASSED_ENV = ("PATH", "LANG", "LC_ALL", "TZ", "CUDA_VISIBLE_DEVICES", "NVIDIA_VISIBLE_DEVICES",
              "LD_LIBRARY_PATH")  # fmt: skip
FILE_SIZE_LIMIT = 1 << 30  # 1 GiB: checkpoints and metrics, not a full disk
MEMORY_LIMIT = 16 << 30  # address space for validation (CPU only)


def sandbox_env(home: Path) -> dict[str, str]:
    env = {k: os.environ[k] for k in PASSED_ENV if k in os.environ}
    env.update(HOME=str(home), TMPDIR=str(home), PYTHONNOUSERSITE="1", OMP_NUM_THREADS="1")
    return env


def _limits(cpu_seconds: int | None, memory: int | None) -> None:  # runs in the child
    wanted = [
        (resource.RLIMIT_CORE, 0),
        (resource.RLIMIT_FSIZE, FILE_SIZE_LIMIT),
        (resource.RLIMIT_CPU, cpu_seconds),
        (resource.RLIMIT_AS, memory),
    ]
    for limit, value in wanted:
        if value is None:
            continue
        try:
            resource.setrlimit(limit, (value, value))
        except (ValueError, OSError):  # e.g. RLIMIT_AS on macOS: keep the others
            pass
    os.setsid()  # its own process group: a timeout kills everything it started


def limits(cpu_seconds: int | None = None, memory: int | None = None):
    return functools.partial(_limits, cpu_seconds, memory)


@functools.cache
def no_network_prefix() -> tuple[str, ...]:
    """`unshare -rn` when it works here (user namespaces allowed), else nothing."""
    unshare = shutil.which("unshare")
    if unshare is None:
        return ()
    try:
        ok = subprocess.run([unshare, "-rn", "true"], capture_output=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return ()
    return (unshare, "-rn") if ok.returncode == 0 else ()


def describe() -> str:
    net = "no network" if no_network_prefix() else "network NOT isolated (unshare unavailable)"
    return f"local sandbox: empty environment, resource limits, {net}"


class SandboxValidator:
    """The harness's validation of generated code, in the sandbox, on CPU."""

    def __init__(self, budget: str, timeout_seconds: float = 600.0) -> None:
        self.budget = budget
        self.timeout = timeout_seconds

    @property
    def name(self) -> str:
        return describe()

    def validate(self, source: str, file_name: str, task: str) -> Failure | None:
        from paperfoundry_trainer.spec import get_budget
        from paperfoundry_trainer.validate import validate_in_subprocess

        spec = get_budget(task, self.budget).spec
        with tempfile.TemporaryDirectory(prefix="pf-sandbox-") as tmp:
            home = Path(tmp)
            impl = home / file_name
            impl.write_text(source)
            result = validate_in_subprocess(
                impl,
                spec,
                "cpu",
                timeout=self.timeout,
                env=sandbox_env(home),
                prefix=no_network_prefix(),
                preexec_fn=limits(int(self.timeout) + 30, MEMORY_LIMIT),
                cwd=home,
            )
        if result.get("ok"):
            return None
        return Failure.model_validate(result["failure"])
