"""The jail itself (`paperfoundry_trainer.jail`): its command line, limits and kill semantics.

Small Python programs run in the jail directly (no torch import), so these are fast.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from paperfoundry_trainer import jail

from .conftest import marker, processes_with, require_jail

PY = sys.executable
TMP = jail.JAIL_TMP  # the jail's own /tmp


def run_py(code: str, *, timeout: float = 30, **kwargs) -> subprocess.CompletedProcess:
    require_jail()
    return jail.run([PY, "-c", code], timeout=timeout, **kwargs)


# -- the command line ----------------------------------------------------------------------


def _binds(argv: list[str]) -> dict[str, str]:
    """dest -> kind for every bind/tmpfs/proc/dev in a bwrap command line."""
    out, i = {}, 0
    while i < len(argv) and argv[i] != "--":
        flag = argv[i]
        if flag in ("--ro-bind", "--bind", "--dev-bind", "--ro-bind-try", "--symlink"):
            out[argv[i + 2]] = flag
            i += 3
        elif flag in ("--tmpfs", "--proc", "--dev"):
            out[argv[i + 1]] = flag
            i += 2
        else:
            i += 1
    return out


def test_jail_argv_isolates_everything(tmp_path):
    impl = tmp_path / "impl.py"
    impl.write_text("x = 1\n")
    argv = jail.jail_argv([PY, str(impl)], ro_paths=[impl], env={"A": "1"})
    head = argv[: argv.index("--")]
    for flag in ("--unshare-all", "--unshare-user", "--die-with-parent", "--new-session",
                 "--clearenv"):  # fmt: skip
        assert flag in head, flag
    assert head[head.index("--cap-drop") + 1] == "ALL"
    assert head[head.index("--uid") + 1] == "65534" and head[head.index("--gid") + 1] == "65534"
    assert "--share-net" not in head and "--bind" not in head  # nothing writable from the host
    binds = _binds(argv)
    assert binds[TMP] == "--tmpfs" and binds["/proc"] == "--proc" and binds["/dev"] == "--dev"
    assert binds[str(impl)] == "--ro-bind"  # the file at its own path, read-only
    assert binds[str(Path(jail.__file__).parent)] == "--ro-bind"
    assert argv[argv.index("--") + 1 :] == [PY, str(impl)]
    # never the host's home, checkout, /tmp or /etc wholesale
    home, repo = Path.home().resolve(), Path(__file__).resolve().parents[2]
    for dest, kind in binds.items():
        if kind in ("--tmpfs", "--proc", "--dev", "--symlink"):
            continue
        assert dest not in ("/", "/etc", TMP, "/proc", "/root", "/home", str(home), str(repo))
        assert not home.is_relative_to(dest) and not repo.is_relative_to(dest), dest
    env = {head[i + 1]: head[i + 2] for i, a in enumerate(head) if a == "--setenv"}
    assert env["A"] == "1" and env["HOME"] == TMP and env["PYTHONNOUSERSITE"] == "1"
    assert not any(k.startswith(("AWS", "OPENAI")) for k in env)
    assert "--dev-bind" not in head  # no devices without gpu=True


def test_a_missing_file_is_an_error_not_an_empty_mount(tmp_path):
    with pytest.raises(FileNotFoundError):
        jail.jail_argv(["true"], ro_paths=[tmp_path / "missing.py"])


def test_no_jail_means_nothing_runs(monkeypatch, tmp_path):
    monkeypatch.setattr(jail, "probe", lambda: "bwrap is not installed; to enable: install it")
    flag = tmp_path / "ran"
    with pytest.raises(jail.JailUnavailable, match="to enable"):
        jail.run(["touch", str(flag)], timeout=10)
    with pytest.raises(jail.JailUnavailable):
        jail.popen(["touch", str(flag)])
    assert not flag.exists()


def test_probe_says_why_and_how_to_enable(monkeypatch, tmp_path):
    fake = tmp_path / "bwrap"
    fake.write_text("#!/bin/sh\necho 'bwrap: setting up uid map: Permission denied' >&2\nexit 1\n")
    fake.chmod(0o755)
    monkeypatch.setattr(jail, "_bwrap", lambda: str(fake))
    monkeypatch.setattr(jail, "_features", lambda: frozenset())
    reason = jail.probe.__wrapped__()  # uncached
    assert "setting up uid map: Permission denied" in reason
    assert "apt-get install bubblewrap" in reason
    assert "apparmor_restrict_unprivileged_userns=0" in reason
    monkeypatch.setattr(jail, "_bwrap", lambda: None)
    assert "not installed" in jail.probe.__wrapped__()


# -- inside the jail -----------------------------------------------------------------------


def test_nobody_without_capabilities_cannot_remount_or_nest_namespaces():
    code = """
import ctypes, os
libc = ctypes.CDLL(None, use_errno=True)
status = dict(l.split(":\\t", 1) for l in open("/proc/self/status").read().splitlines()
              if ":\\t" in l)
print("uid", os.getuid(), os.getgid())
print("capeff", status["CapEff"].strip())
MS_REMOUNT, MS_BIND = 0x20, 0x1000
r = libc.mount(b"none", os.path.dirname(os.__file__).encode(), None, MS_REMOUNT | MS_BIND, None)
print("remount", r, ctypes.get_errno())
print("userns", libc.unshare(0x10000000), ctypes.get_errno())  # CLONE_NEWUSER
print("hostname", os.uname().nodename)
"""
    out = run_py(code).stdout
    assert "uid 65534 65534" in out
    assert "capeff 0000000000000000" in out
    assert "remount -1" in out  # the read-only binds stay read-only
    assert "userns -1" in out  # no nested user namespace to regain capabilities in
    assert "hostname pf-jail" in out


def test_limits_memory_file_size_tmpfs_and_cpu():
    memory = run_py(
        "try:\n b = bytearray(1 << 30)\n print('allocated')\nexcept MemoryError:\n print('oom')",
        limits=jail.Limits(memory_bytes=512 << 20),
    )
    assert memory.stdout.strip() == "oom"
    big = run_py(
        "try:\n open('/tmp/f', 'wb').write(b'x' * (2 << 20)); print('wrote')\n"
        "except OSError as e:\n print('refused', e.errno)",
        limits=jail.Limits(file_size_bytes=1 << 20),
    )
    assert big.stdout.strip() == "refused 27"  # EFBIG
    full = run_py(
        "import os\ntry:\n for i in range(16):\n"
        "  open(f'/tmp/f{i}', 'wb').write(os.urandom(1 << 20))\n"
        " print('wrote')\nexcept OSError as e:\n print('refused', e.errno)",
        limits=jail.Limits(tmp_bytes=4 << 20),
    )
    assert full.stdout.strip() == "refused 28"  # ENOSPC: the tmpfs is small, not the host disk
    started = time.monotonic()
    cpu = run_py("while True: pass", limits=jail.Limits(cpu_seconds=1), timeout=30)
    assert cpu.returncode != 0 and time.monotonic() - started < 15  # SIGXCPU / SIGKILL


def test_fork_bomb_is_bounded():
    word = marker()
    code = f"""
import os, sys, time
n = 0
for _ in range(200):
    try:
        pid = os.fork()
    except OSError:
        break
    if pid == 0:
        os.execv(sys.executable, [sys.executable, "-c", "import time; time.sleep(60)", {word!r}])
    n += 1
print(n)
"""
    out = run_py(code, limits=jail.Limits(max_processes=16), timeout=60)
    forked = int(out.stdout.strip())
    assert processes_with(word) == []
    if forked == 200:
        pytest.skip("no process limit applies here (root without a writable pids cgroup)")
    assert forked < 16  # the jail's own processes count too


def test_timeout_kills_the_whole_tree_and_raises():
    word = marker()
    code = f"""
import os, sys, time
for _ in range(3):
    if os.fork() == 0:
        os.setsid()
        os.execv(sys.executable, [sys.executable, "-c", "while True: pass", {word!r}])
print("spawned", flush=True)
while True:
    time.sleep(0.1)
"""
    started = time.monotonic()
    with pytest.raises(subprocess.TimeoutExpired) as info:
        run_py(code, timeout=3)
    assert time.monotonic() - started < 8
    assert "spawned" in info.value.output
    assert processes_with(word) == []


@pytest.mark.parametrize("jailed", [True, False], ids=["jail", "unjailed"])
def test_a_grandchild_holding_the_pipe_does_not_hold_us(jailed):
    word = marker()
    code = f"""
import subprocess, sys
subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)", {word!r}])
print("done")
"""
    started = time.monotonic()
    if jailed:
        result = run_py(code, timeout=60)
    else:  # trusted code: no jail, but its process group is killed once it exits
        result = jail.run_unjailed([PY, "-c", code], timeout=60)
    assert result.returncode == 0 and result.stdout.strip() == "done"
    assert time.monotonic() - started < 10
    assert processes_with(word) == []


def test_input_and_output_round_trip():
    result = run_py("import sys; print(sys.stdin.read().upper())", input="hello")
    assert result.stdout.strip() == "HELLO"
    assert os.environ.get("HOME") != TMP  # our own environment is untouched
