"""A jail for untrusted (LLM-written) code: bubblewrap, or nothing runs.

Code written by a language model is run only inside a `bwrap` sandbox:

- new user, pid, network, IPC, UTS and cgroup (and mount) namespaces: no network at all
  (not even loopback to the host's listeners, nor its abstract Unix sockets), no view of
  the host's processes (`/proc` is a fresh procfs of the new pid namespace), no SysV IPC;
- inside it runs as `nobody` (uid/gid 65534) with every capability dropped, and may not
  create further user namespaces (so it cannot regain capabilities to remount the
  read-only binds writable);
- the filesystem is an empty read-only root with read-only binds of only what the code
  needs: the system's library directories (`/usr`, `/lib*`, the dynamic loader's cache),
  the interpreter (its base prefix and the virtual environment), this package, and the
  files the caller names (the implementation file, a data file) at the same absolute path;
  never `/root`, `/home`, the project checkout, the host's `/tmp` or `/proc`;
- the only writable places are a fresh, size-limited tmpfs at `/tmp` (also `HOME`, the cwd)
  and a private `/dev/shm`; both vanish with the jail;
- an empty environment plus the few variables given (no credentials, no proxies);
- `--die-with-parent`, `--new-session` (no TIOCSTI on our terminal), resource limits
  (CPU seconds, address space, file size, processes, no core files) and, where the host
  allows, a pids cgroup;
- killing the jail's process group kills bwrap, and with it its pid namespace: every
  process the code started, double-forked daemons too, dies with it.

If no jail works here (no bwrap, user namespaces forbidden), `popen`/`run` raise
`JailUnavailable` and nothing runs: the caller reports the code as not run. Only the
standard library is used (the trainer image needs nothing but PyTorch).
"""

from __future__ import annotations

import functools
import os
import re
import selectors
import shutil
import signal
import subprocess
import sys
import time
import uuid
import weakref
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

# The jail's own fresh tmpfs mounts (never the host's /tmp): its cwd, HOME and scratch space.
JAIL_TMP, JAIL_SHM = "/tmp", "/dev/shm"  # noqa: S108
SANDBOX_UID = SANDBOX_GID = 65534  # "nobody": no capabilities inside, even for root callers
PACKAGE_DIR = Path(__file__).resolve().parent
HOW_TO_ENABLE = (
    "install bubblewrap (Debian/Ubuntu: `apt-get install bubblewrap`, Fedora: "
    "`dnf install bubblewrap`) and allow unprivileged user namespaces (Debian: `sysctl "
    "kernel.unprivileged_userns_clone=1`; Ubuntu 23.10+/24.04: `sysctl "
    "kernel.apparmor_restrict_unprivileged_userns=0` or an AppArmor profile that allows "
    "userns for bwrap; Docker: run with `--security-opt seccomp=unconfined --security-opt "
    "apparmor=unconfined`); or set PAPERFOUNDRY_ALLOW_UNJAILED=1 to run it without a jail "
    "(unsafe)"
)
# Harmless system paths the interpreter and its libraries need (bound read-only if present).
SYSTEM_DIRS = ("/usr", "/lib", "/lib64", "/lib32", "/libx32", "/bin", "/sbin")
SYSTEM_ETC = ("/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d", "/etc/localtime",
              "/etc/alternatives")  # fmt: skip
# With gpu=True: what the CUDA driver reads besides /dev/nvidia* (read-only, no secrets).
GPU_SYS = ("/sys/bus", "/sys/class", "/sys/dev", "/sys/devices", "/sys/module/nvidia")
GPU_ENV = ("CUDA_VISIBLE_DEVICES", "NVIDIA_VISIBLE_DEVICES", "NVIDIA_DRIVER_CAPABILITIES",
           "LD_LIBRARY_PATH")  # fmt: skip
PIPE_GRACE_S = 2.0  # after the child exits, how long its output may still trickle in
KILL_WAIT_S = 5.0
MAX_CAPTURE = 8 << 20  # bytes kept per stream (the tail: results are printed last)


class JailUnavailable(RuntimeError):
    """No working jail here; str() says why and how to enable one."""


@dataclass(frozen=True)
class Limits:
    """Resource limits for everything in the jail (None: not limited).

    cpu_seconds and memory_bytes are per process (RLIMIT_CPU, RLIMIT_AS; address space, so
    leave memory_bytes None for CUDA, which reserves huge virtual ranges). max_processes
    counts processes *and threads* of the jail (RLIMIT_NPROC inside the jail's user
    namespace, and a pids cgroup where the host lets us make one). tmp_bytes sizes the
    jail's /tmp and /dev/shm tmpfs (each), which live in memory.
    """

    cpu_seconds: int | None = None
    memory_bytes: int | None = None
    file_size_bytes: int = 1 << 30
    max_processes: int | None = 64
    tmp_bytes: int | None = 1 << 30


# -- probing -----------------------------------------------------------------------------


@functools.cache
def _bwrap() -> str | None:
    return shutil.which("bwrap")


@functools.cache
def _features() -> frozenset[str]:
    """The options this bwrap knows (older ones lack --disable-userns and --size)."""
    try:
        out = subprocess.run([_bwrap() or "bwrap", "--help"], capture_output=True, text=True,
                             timeout=10, env={"PATH": os.defpath})  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return frozenset()
    return frozenset(re.findall(r"^\s+(--[a-z0-9-]+)", out.stdout + out.stderr, re.M))


@functools.cache
def probe() -> str | None:
    """None when a bwrap jail actually works here, else why not and how to enable it.

    Runs the interpreter in the very jail `popen` builds, so a failure here (bwrap missing,
    user namespaces forbidden by sysctl, AppArmor or seccomp) is exactly what would have
    stopped the real run. Cached for the life of the process.
    """
    if not sys.platform.startswith("linux"):
        return f"the jail needs Linux (bubblewrap), this is {sys.platform}"
    if _bwrap() is None:
        return f"bubblewrap (bwrap) is not installed; to enable: {HOW_TO_ENABLE}"
    try:
        argv = jail_argv([_python(), "-I", "-S", "-c", "pass"])
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=30,
                              env=_bwrap_env(), stdin=subprocess.DEVNULL)  # fmt: skip
    except JailUnavailable as exc:
        return str(exc)
    except (OSError, subprocess.SubprocessError) as exc:
        return f"bwrap could not run ({exc}); to enable: {HOW_TO_ENABLE}"
    if proc.returncode != 0:
        why = " ".join((proc.stderr.strip().splitlines() or ["no message"])[-1:])[:300]
        return f"bwrap cannot create its sandbox here ({why}); to enable: {HOW_TO_ENABLE}"
    return None


# -- the command line --------------------------------------------------------------------


def _python() -> str:
    """The interpreter, as the jail sees it (same path as here: its prefix is bound)."""
    return sys.executable or "python3"


def _bwrap_env() -> dict[str, str]:
    """bwrap itself starts with this environment, not ours: its pid-1 reaper inside the
    jail keeps the environment it was started with, readable as /proc/1/environ."""
    return {"PATH": os.defpath, "LANG": "C.UTF-8"}


def _covered(path: Path, bound: list[Path]) -> bool:
    return any(path == b or path.is_relative_to(b) for b in bound)


def _safe_bind(path: Path) -> Path:
    """Never bind `/` or a directory holding the home directory (credentials live there)."""
    try:
        home = Path.home().resolve()
    except (RuntimeError, KeyError):  # no HOME and no passwd entry
        home = Path("/root") if os.geteuid() == 0 else Path("/")
    if path == Path("/") or home == path or home.is_relative_to(path):
        raise JailUnavailable(
            f"refusing to expose {path} in the jail (it would show {home}); "
            "use a virtual environment or interpreter outside the home directory's parents"
        )
    return path


def _interpreter_paths() -> list[Path]:
    """The interpreter's own tree: base prefix (stdlib, libpython), the venv, the binary."""
    exe = Path(_python())
    found = [Path(p) for p in (sys.base_prefix, sys.base_exec_prefix, sys.prefix,
                               sys.exec_prefix)]  # fmt: skip
    found += [exe.absolute().parent, exe.resolve().parent]
    return [p.resolve() for p in found if p and p.exists()]


def jail_argv(
    argv: Sequence[str],
    *,
    ro_paths: Sequence[str | Path] = (),
    gpu: bool = False,
    env: Mapping[str, str] | None = None,
    cwd: str = JAIL_TMP,
    tmp_bytes: int | None = Limits.tmp_bytes,
) -> list[str]:
    """The bwrap command line that runs `argv` in the jail.

    Start the result with `env=` a minimal environment (see `popen`), never ours: bwrap's
    reaper (pid 1 in the jail) keeps the environment bwrap was started with.
    """
    bwrap = _bwrap() or "bwrap"
    features = _features()
    cmd = [bwrap]
    # Namespaces: --unshare-all is user (try), pid, net, ipc, uts, cgroup (try) and mount;
    # --unshare-user makes the user namespace mandatory (no silent fallback).
    cmd += ["--unshare-all", "--unshare-user"]
    if "--disable-userns" in features:
        cmd += ["--disable-userns"]  # no nested user namespace: no capabilities to regain
    # nobody inside, no capabilities: as root, bwrap would otherwise keep them in the
    # namespace, and CAP_SYS_ADMIN there can remount a read-only bind writable.
    cmd += ["--uid", str(SANDBOX_UID), "--gid", str(SANDBOX_GID), "--cap-drop", "ALL"]
    # Dies with us (PR_SET_PDEATHSIG: of the *thread* that started it); its own session, so
    # it cannot push input into our terminal (TIOCSTI).
    cmd += ["--die-with-parent", "--new-session", "--hostname", "pf-jail"]

    # Environment: nothing of ours unless passed.
    sandbox_env = {
        "PATH": f"{Path(sys.prefix) / 'bin'}:/usr/local/bin:/usr/bin:/bin",
        "HOME": JAIL_TMP,
        "TMPDIR": JAIL_TMP,
        "USER": "nobody",
        "LOGNAME": "nobody",
        "LANG": "C.UTF-8",
        "PYTHONNOUSERSITE": "1",  # no ~/.local site-packages
        "PYTHONDONTWRITEBYTECODE": "1",  # the binds are read-only anyway
    }
    if gpu:
        sandbox_env |= {k: os.environ[k] for k in GPU_ENV if k in os.environ}
    sandbox_env |= dict(env or {})
    cmd += ["--clearenv"]
    for key, value in sandbox_env.items():
        cmd += ["--setenv", key, value]

    # System libraries, read-only; merged-/usr symlinks (/lib -> usr/lib) recreated as such.
    bound: list[Path] = []
    for d in SYSTEM_DIRS:
        if os.path.islink(d):
            cmd += ["--symlink", os.readlink(d), d]
        elif os.path.isdir(d):
            cmd += ["--ro-bind", d, d]
            bound.append(Path(d))
    for f in SYSTEM_ETC:
        if os.path.lexists(f):
            cmd += ["--ro-bind", f, f]

    # A private /proc of the new pid namespace and a minimal /dev (null, zero, urandom, tty).
    cmd += ["--proc", "/proc", "--dev", "/dev"]
    if gpu:
        nodes = sorted(str(p) for p in Path("/dev").glob("nvidia*"))
        for node in nodes:
            cmd += ["--dev-bind", node, node]
        for d in GPU_SYS:
            cmd += ["--ro-bind-try", d, d]
        for d in os.environ.get("LD_LIBRARY_PATH", "").split(":"):
            p = Path(d)
            if d and p.is_absolute() and p.is_dir() and not _covered(p.resolve(), bound):
                cmd += ["--ro-bind", str(_safe_bind(p.resolve())), d]
    size = ["--size", str(tmp_bytes)] if tmp_bytes and "--size" in features else []
    # The only writable places: fresh tmpfs mounts that vanish with the jail.
    cmd += [*size, "--tmpfs", JAIL_SHM, "--remount-ro", "/dev"]
    cmd += [*size, "--tmpfs", JAIL_TMP]

    # The interpreter, the venv and this package at their own paths, read-only.
    for p in sorted({*_interpreter_paths(), PACKAGE_DIR}, key=lambda p: len(p.parts)):
        if not _covered(p, bound):
            cmd += ["--ro-bind", str(_safe_bind(p)), str(p)]
            bound.append(p)
    # The caller's files (the implementation, a data file), read-only at the same path
    # (bound after /tmp, so a file in the host's /tmp shows up inside the fresh one).
    for raw in ro_paths:
        dest = Path(raw).absolute()
        src = dest.resolve(strict=True)  # FileNotFoundError rather than an empty mount
        cmd += ["--ro-bind", str(_safe_bind(src)), str(dest)]

    # The root itself (a tmpfs holding the mount points) becomes read-only too.
    cmd += ["--remount-ro", "/", "--chdir", cwd, "--", *argv]
    return cmd


# -- limits ------------------------------------------------------------------------------

# Runs first inside the jail, then execs the real command: the limits are set after the
# user namespace exists, so RLIMIT_NPROC counts the jail's processes only (kernel >= 5.14
# counts it per user namespace; the host's count for our uid is not affected).
_LIMITER = """\
import os, resource as r, sys
a = sys.argv
for name, v in zip(("RLIMIT_CORE", "RLIMIT_CPU", "RLIMIT_AS", "RLIMIT_FSIZE",
                    "RLIMIT_NPROC"), a[1:6]):
    if v != "-" and hasattr(r, name):
        lim = getattr(r, name)
        hard = r.getrlimit(lim)[1]
        v = int(v) if hard == r.RLIM_INFINITY else min(int(v), hard)
        r.setrlimit(lim, (v, v))
os.execvp(a[7], a[7:])
"""


def _kernel_at_least(major: int, minor: int) -> bool:
    m = re.match(r"(\d+)\.(\d+)", os.uname().release)
    return bool(m) and (int(m.group(1)), int(m.group(2))) >= (major, minor)


def limit_argv(argv: Sequence[str], limits: Limits) -> list[str]:
    """`argv` behind a tiny launcher that sets `limits` (and no core files), then execs it.

    Used inside the jail by `popen`; usable without one (trusted code) with max_processes
    None (outside a user namespace RLIMIT_NPROC counts every process of our uid).
    """
    nproc = limits.max_processes
    if nproc is not None and not _kernel_at_least(5, 14):
        nproc = None  # older kernels count every process of our uid on the host
    values = [0, limits.cpu_seconds, limits.memory_bytes, limits.file_size_bytes, nproc]
    return [_python(), "-I", "-S", "-c", _LIMITER,
            *("-" if v is None else str(v) for v in values), "--", *argv]  # fmt: skip


def _pids_cgroup(max_tasks: int | None) -> Path | None:
    """A fresh pids cgroup capped at `max_tasks`, where the host lets us make one.

    RLIMIT_NPROC does not bind a jail started by root (the kernel exempts root's uid), so
    as root we also try a pids cgroup (v1 `pids` hierarchy or v2 with the controller
    delegated). Best effort: None when cgroups are read-only or absent.
    """
    if max_tasks is None or os.geteuid() != 0:
        return None
    try:
        own = {}
        for line in Path("/proc/self/cgroup").read_text().splitlines():
            _, controllers, path = line.split(":", 2)
            for c in controllers.split(",") if controllers else ["unified"]:
                own[c] = path
        roots = []
        if "pids" in own and Path("/sys/fs/cgroup/pids").is_dir():
            roots.append(Path("/sys/fs/cgroup/pids") / own["pids"].lstrip("/"))
        if "unified" in own and Path("/sys/fs/cgroup/cgroup.controllers").is_file():
            roots.append(Path("/sys/fs/cgroup") / own["unified"].lstrip("/"))
    except (OSError, ValueError):
        return None
    for root in roots:
        for stale in root.glob("pf-jail-*"):  # left by a process that died; empty ones only
            try:
                if time.time() - stale.stat().st_mtime > 3600:
                    stale.rmdir()
            except OSError:
                pass
        group = root / f"pf-jail-{uuid.uuid4().hex[:12]}"
        try:
            group.mkdir()
        except OSError:
            continue
        try:
            (group / "pids.max").write_text(f"{max_tasks + 1}\n")  # + bwrap outside the jail
            return group
        except OSError:
            _remove_cgroup(group)
    return None


def _remove_cgroup(group: Path, tries: int = 50) -> None:
    for _ in range(tries):  # empty once the last zombie is reaped
        try:
            group.rmdir()
            return
        except FileNotFoundError:
            return
        except OSError:
            time.sleep(0.02)


# -- running -----------------------------------------------------------------------------


def popen(
    argv: Sequence[str],
    *,
    ro_paths: Sequence[str | Path] = (),
    limits: Limits = Limits(),  # noqa: B008 - frozen, so a shared default is fine
    gpu: bool = False,
    env: Mapping[str, str] | None = None,
    cwd: str = JAIL_TMP,
    **popen_kwargs,
) -> subprocess.Popen:
    """Start `argv` in the jail; raises JailUnavailable (and starts nothing) if none works.

    `env` is the jail's whole environment (besides PATH, HOME=/tmp and a few Python
    switches); `cwd` is a path inside the jail. The process leads its own process group
    (`kill_tree` kills it, and with it the jail), and should be started from a thread that
    outlives it: bwrap dies with the thread that started it (--die-with-parent).
    Other keyword arguments go to subprocess.Popen (stdin, stdout, stderr, text, ...).
    """
    reason = probe()
    if reason is not None:
        raise JailUnavailable(reason)
    for key in ("env", "preexec_fn", "start_new_session", "process_group"):
        if key in popen_kwargs:
            raise TypeError(f"popen() sets {key} itself")
    cmd = jail_argv(limit_argv(argv, limits), ro_paths=ro_paths, gpu=gpu, env=env, cwd=cwd,
                    tmp_bytes=limits.tmp_bytes)  # fmt: skip
    group = _pids_cgroup(limits.max_processes)
    if group is not None:
        # The shell joins the cgroup and becomes bwrap: nothing runs outside it, and no
        # preexec_fn (unsafe with threads) is needed.
        join = 'echo $$ > "$0/cgroup.procs" && exec "$@"'
        cmd = ["/bin/sh", "-c", join, str(group), *cmd]
    popen_kwargs.setdefault("close_fds", True)
    proc = JailedPopen(cmd, env=_bwrap_env(), start_new_session=True, cwd="/",
                       **popen_kwargs)  # fmt: skip
    if group is not None:
        proc.jail_cgroup = group
        weakref.finalize(proc, _remove_cgroup, group, 1)  # if it is never waited for
    return proc


class JailedPopen(subprocess.Popen):
    """A Popen whose pids cgroup (if any) is removed once the jail has been reaped."""

    jail_cgroup: Path | None = None

    def wait(self, timeout=None):
        code = super().wait(timeout)
        if self.jail_cgroup is not None:
            _remove_cgroup(self.jail_cgroup)  # the jail's last processes leave in a moment
            self.jail_cgroup = None
        return code


def exited(proc: subprocess.Popen) -> bool:
    """Has the process exited? Does not reap it: while it is an unreaped zombie its pid,
    and so its process group id, cannot be reused, so `kill_tree` stays safe."""
    if proc.returncode is not None:
        return True
    if not hasattr(os, "waitid"):  # not Linux: reaps, so the group id may be reused after
        return proc.poll() is not None
    try:
        return os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None
    except ChildProcessError:
        return True


def kill_tree(proc: subprocess.Popen) -> None:
    """SIGKILL the process's whole group (it leads one: `popen`). For a jail that is bwrap;
    its pid namespace dies with it, taking every process inside, in whatever session.

    Safe to call more than once. A process already reaped (returncode set) is not signalled:
    its group id could belong to someone else by now (and its jail is gone already).
    """
    if proc.returncode is None:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
    group = getattr(proc, "jail_cgroup", None)
    if group is not None:
        try:
            (group / "cgroup.kill").write_text("1")  # v2: everything still in the cgroup
        except OSError:
            pass


def wait_group_gone(pgid: int, timeout: float = KILL_WAIT_S) -> bool:
    """After `kill_tree` and `wait`: wait until no process of the group is left (SIGKILL
    takes a moment to land). Probes with signal 0, which is harmless even to a stranger."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return True
        except PermissionError:  # the id now belongs to someone else's group
            return True
        time.sleep(0.01)
    return False


def _decode(data: bytes | bytearray) -> str:
    return bytes(data).decode("utf-8", errors="replace")


def collect(
    proc: subprocess.Popen, *, timeout: float, input: bytes | None = None
) -> tuple[bytes, bytes, bool]:
    """Feed `input`, read stdout/stderr until the process exits, then kill its tree.

    Never hangs: stops at `timeout`, and at most PIPE_GRACE_S after the process exited even
    if a leftover process still holds the pipes open. Returns (stdout, stderr, timed_out);
    the process is killed (whole tree) and reaped on return.
    """
    deadline = time.monotonic() + timeout
    out_fd = proc.stdout.fileno() if proc.stdout is not None else -1
    err_fd = proc.stderr.fileno() if proc.stderr is not None else -1
    in_fd = proc.stdin.fileno() if proc.stdin is not None else -1
    buffers: dict[int, bytearray] = {out_fd: bytearray(), err_fd: bytearray()}
    sel = selectors.DefaultSelector()
    for stream in (proc.stdout, proc.stderr):
        if stream is not None:
            os.set_blocking(stream.fileno(), False)
            sel.register(stream.fileno(), selectors.EVENT_READ)
    pending = memoryview(input or b"")
    if proc.stdin is not None:
        if pending:
            os.set_blocking(proc.stdin.fileno(), False)
            sel.register(proc.stdin.fileno(), selectors.EVENT_WRITE)
        else:
            proc.stdin.close()
    exited_at: float | None = None
    timed_out = False
    try:
        while True:
            now = time.monotonic()
            if exited_at is None and exited(proc):
                exited_at = now
            if exited_at is not None and (not sel.get_map() or now - exited_at > PIPE_GRACE_S):
                break
            if now >= deadline:
                timed_out = True
                break
            if not sel.get_map():  # pipes closed, process still running
                time.sleep(min(0.05, deadline - now))
                continue
            for key, _ in sel.select(timeout=min(0.1, deadline - now)):
                fd = key.fd
                if fd == in_fd:
                    try:
                        pending = pending[os.write(fd, pending[:65536]) :]
                    except BlockingIOError:
                        continue
                    except BrokenPipeError:  # it stopped reading: drop the rest
                        pending = pending[:0]
                    if not pending:
                        sel.unregister(fd)
                        proc.stdin.close()
                    continue
                try:
                    chunk = os.read(fd, 65536)
                except BlockingIOError:
                    continue
                if not chunk:
                    sel.unregister(fd)
                    continue
                buf = buffers[fd]
                buf += chunk
                if len(buf) > 2 * MAX_CAPTURE:
                    del buf[: len(buf) - MAX_CAPTURE]
    finally:
        sel.close()
        kill_tree(proc)  # leftovers (a daemon, a grandchild holding the pipe) die here
        try:
            proc.wait(timeout=KILL_WAIT_S)
        except subprocess.TimeoutExpired:  # pragma: no cover - SIGKILL not delivered?
            pass
        wait_group_gone(proc.pid)
        for stream in (proc.stdin, proc.stdout, proc.stderr):
            if stream is not None and not stream.closed:
                if stream is not proc.stdin:
                    try:  # what arrived before the kill (bounded: a writer may remain)
                        for _ in range(MAX_CAPTURE // 65536):
                            if not (chunk := os.read(stream.fileno(), 65536)):
                                break
                            buffers[stream.fileno()] += chunk
                    except OSError:  # BlockingIOError: nothing more for now
                        pass
                try:
                    stream.close()
                except OSError:
                    pass
        group = getattr(proc, "jail_cgroup", None)
        if group is not None:
            _remove_cgroup(group)
    out, err = bytes(buffers[out_fd][-MAX_CAPTURE:]), bytes(buffers[err_fd][-MAX_CAPTURE:])
    return out, err, timed_out


def _completed(
    proc: subprocess.Popen, argv: Sequence[str], timeout: float, input: str | None
) -> subprocess.CompletedProcess:
    out, err, timed_out = collect(
        proc, timeout=timeout, input=None if input is None else input.encode()
    )
    if timed_out:
        raise subprocess.TimeoutExpired(list(argv), timeout, output=_decode(out),
                                        stderr=_decode(err))  # fmt: skip
    return subprocess.CompletedProcess(list(argv), proc.returncode, _decode(out), _decode(err))


def run(
    argv: Sequence[str],
    *,
    timeout: float,
    ro_paths: Sequence[str | Path] = (),
    limits: Limits = Limits(),  # noqa: B008 - frozen
    gpu: bool = False,
    env: Mapping[str, str] | None = None,
    input: str | None = None,
    cwd: str = JAIL_TMP,
) -> subprocess.CompletedProcess:
    """Run `argv` in the jail and capture its output (text).

    A hard timeout: at `timeout` the whole tree is killed and subprocess.TimeoutExpired
    raised (with the output so far). A grandchild that keeps the pipes open cannot make us
    wait past the child's exit (+PIPE_GRACE_S) or the timeout. Raises JailUnavailable, and
    runs nothing, when no jail works here.
    """
    stdin = subprocess.PIPE if input is not None else subprocess.DEVNULL
    proc = popen(argv, ro_paths=ro_paths, limits=limits, gpu=gpu, env=env, cwd=cwd,
                 stdin=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # fmt: skip
    return _completed(proc, argv, timeout, input)


def run_unjailed(
    argv: Sequence[str],
    *,
    timeout: float,
    env: Mapping[str, str] | None = None,
    cwd: str | Path | None = None,
    input: str | None = None,
    limits: Limits | None = None,
) -> subprocess.CompletedProcess:
    """Like `run`, for trusted code (the shipped reference implementations): no jail, but
    its own process group, killed whole on timeout or once the child exits, so a stray
    grandchild can neither outlive it (in that group) nor hold us on the pipe.

    `limits` apply as in the jail, except max_processes (outside a user namespace
    RLIMIT_NPROC would count every process of our uid on the host)."""
    stdin = subprocess.PIPE if input is not None else subprocess.DEVNULL
    cmd = list(argv)
    if limits is not None:
        cmd = limit_argv(cmd, replace(limits, max_processes=None))
    proc = subprocess.Popen(cmd, env=None if env is None else dict(env), cwd=cwd,
                            start_new_session=True, stdin=stdin, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)  # fmt: skip
    return _completed(proc, argv, timeout, input)
