"""Attacks that worked against the old sandbox, run through the jailed validation path.

Each test writes an implementation file that attempts the attack at import time (as if the
static checks had been fooled), runs it exactly as the LLM implementer would
(`SandboxValidator`), and asserts on the host that the effect is absent.
"""

from __future__ import annotations

import hashlib
import os
import site
import socket
import sys
import time
import uuid
from importlib import resources
from pathlib import Path

import pytest
from paperfoundry_trainer import jail

from .conftest import (
    BENIGN,
    PROLOGUE,
    RAISE_REPORT,
    marker,
    processes_with,
    report_of,
    validate_attack,
)

pytestmark = pytest.mark.usefixtures("jailed")

HOST_SHM = Path("/dev/shm")  # noqa: S108 - writable on the host, private in the jail


def test_shell_commands_run_only_inside_the_jail(tmp_path):
    word = marker()
    targets = {
        "system": HOST_SHM / f"{word}-system",
        "subprocess": HOST_SHM / f"{word}-subprocess",
        "ctypes": HOST_SHM / f"{word}-ctypes",
        "tmp": tmp_path / "pwned",
    }
    body = f"""
import subprocess, ctypes
attempt("system", lambda: os.system("id > {targets["system"]}"))
attempt("subprocess", lambda: subprocess.run(["sh", "-c", "id > {targets["subprocess"]}"],
                                             check=True).returncode)
attempt("ctypes", lambda: ctypes.CDLL(None).system(b"id > {targets["ctypes"]}"))
attempt("tmp", lambda: os.system("id > {targets["tmp"]}"))
attempt("whoami", lambda: subprocess.run(["id"], capture_output=True, text=True).stdout)
"""
    try:
        report = report_of(validate_attack(body))
        # the commands did run (in the jail: its private /dev/shm), as nobody ...
        assert report["system"] == "ok:0" and report["ctypes"] == "ok:0", report
        assert report["subprocess"] == "ok:0", report
        assert "uid=65534" in report["whoami"], report
        # ... and nothing they wrote exists on the host
        for name, path in targets.items():
            assert not path.exists(), f"{name}: {path} was written on the host"
    finally:
        for path in targets.values():
            path.unlink(missing_ok=True)


def test_files_outside_the_jail_cannot_be_read(tmp_path):
    secret = f"pfsecret-{uuid.uuid4().hex}"
    fake_home = tmp_path / "home"
    (fake_home / ".aws").mkdir(parents=True)
    (fake_home / ".aws" / "credentials").write_text(f"[default]\naws_secret_access_key={secret}\n")
    library = resources.files("paperfoundry.library").joinpath("based_2402_18668.py")
    paths = {
        "aws": fake_home / ".aws" / "credentials",
        "home_aws": Path.home() / ".aws" / "credentials",
        "passwd": Path("/etc/passwd"),
        "this_test": Path(__file__),
        "repo": Path(__file__).parents[2] / "pyproject.toml",
        "library": Path(str(library)),
        "host_tmp": tmp_path,
    }
    reads = "\n".join(
        f"attempt({name!r}, lambda: open({str(p)!r}).read()[:40] if {p.is_file()!r} "
        f"else os.listdir({str(p)!r}))"
        for name, p in paths.items()
    )
    report = report_of(validate_attack(reads + "\n"))
    assert secret not in str(report)
    for name in paths:
        assert report[name].startswith("denied:"), (name, report[name])
        assert "FileNotFoundError" in report[name], (name, report[name])  # not even visible


def test_nothing_outside_the_tmpfs_can_be_written(tmp_path):
    from paperfoundry_trainer.spec import get_budget
    from paperfoundry_trainer.validate import validate_in_subprocess

    word = marker()
    library = Path(str(resources.files("paperfoundry.library").joinpath("based_2402_18668.py")))
    site_packages = Path(site.getsitepackages()[0])
    trainer = Path(jail.__file__).parent
    report_file = tmp_path / "report.html"
    report_file.write_text("<p>genuine</p>")
    impl = tmp_path / "attack.py"
    new = {  # files the attack would create
        "pth": site_packages / f"{word}.pth",
        "venv_bin": Path(sys.prefix) / "bin" / word,
        "trainer": trainer / f"{word}.py",
        "library_new": library.parent / f"{word}.py",
        "repo": Path(__file__).parents[2] / f"{word}.txt",
        "shm": HOST_SHM / word,
    }
    existing = {  # files the attack would change
        "library": library,
        "report": report_file,
        "impl": impl,
        "trainer_init": trainer / "__init__.py",
    }
    impl.write_text("placeholder")
    before = {name: hashlib.sha256(p.read_bytes()).hexdigest() for name, p in existing.items()}
    writes = "\n".join(
        f"attempt({name!r}, lambda: open({str(p)!r}, 'a').write('import os; os.system(\"id\")'))"
        for name, p in {**new, **existing}.items()
    )
    impl.write_text(PROLOGUE + writes + "\n" + BENIGN + RAISE_REPORT)
    before["impl"] = hashlib.sha256(impl.read_bytes()).hexdigest()
    try:
        spec = get_budget("mqar", "tiny").spec
        result = validate_in_subprocess(impl, spec, "cpu", 120, isolation="jail")
        report = report_of(result)
        for name, path in new.items():
            assert not path.exists(), f"{name}: {path} was created"
        for name, path in existing.items():
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
            assert digest == before[name], f"{name}: {path} was changed"
        # visible read-only binds refuse the write; everything else is not even there
        for name in ("pth", "venv_bin", "trainer", "impl", "trainer_init"):
            assert "Read-only file system" in report[name], (name, report[name])
        # a checkout under /tmp (a fresh clone) is shadowed by the jail's own /tmp tmpfs:
        # the write lands there and vanishes with it (the host path was checked above)
        repo_in_tmp = Path(__file__).resolve().parents[2].is_relative_to("/tmp")  # noqa: S108
        for name in ("library", "library_new", *(() if repo_in_tmp else ("repo",))):
            assert report[name].startswith("denied:"), (name, report[name])
        # the host's /tmp and /dev/shm are not there: the same paths in the jail are its own
        # fresh tmpfs mounts, gone with it (the host's files were checked above)
        assert report["report"].startswith("ok:") and report["shm"].startswith("ok:")
    finally:
        for path in new.values():
            path.unlink(missing_ok=True)


def test_no_network_no_unix_sockets(tmp_path):
    path_listener = socket.socket(socket.AF_UNIX)
    sock_path = tmp_path / "agent.sock"
    path_listener.bind(str(sock_path))
    abstract_name = f"\0pf-jail-{uuid.uuid4().hex}"
    abstract_listener = socket.socket(socket.AF_UNIX)
    abstract_listener.bind(abstract_name)
    tcp_listener = socket.socket()
    tcp_listener.bind(("127.0.0.1", 0))
    port = tcp_listener.getsockname()[1]
    listeners = [path_listener, abstract_listener, tcp_listener]
    for listener in listeners:
        listener.listen()
        listener.setblocking(False)
    body = f"""
import socket
def unix(address):
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(3)
    s.connect(address)
    s.sendall(b"exfiltrated")
    return "connected"
attempt("unix_path", lambda: unix({str(sock_path)!r}))
attempt("unix_abstract", lambda: unix({abstract_name!r}))
attempt("tcp", lambda: socket.create_connection(("127.0.0.1", {port}), timeout=3).send(b"x"))
attempt("dns", lambda: socket.getaddrinfo("example.com", 443))
"""
    try:
        report = report_of(validate_attack(body))
        for listener in listeners:
            with pytest.raises(BlockingIOError):
                listener.accept()  # a connection that got through would be waiting here
        for name in ("unix_path", "unix_abstract", "tcp", "dns"):
            assert report[name].startswith("denied:"), (name, report[name])
    finally:
        for listener in listeners:
            listener.close()


def test_environment_and_parent_process_are_out_of_reach(monkeypatch):
    secret = f"pfsecret-{uuid.uuid4().hex}"
    monkeypatch.setenv("PF_FAKE_SECRET", secret)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", secret)
    host_pid = os.getpid()  # holds the secret in its environment and memory
    # The attack searches for the prefix; the source never holds the secret itself.
    body = f"""
import re
FOUND = set()
def scan(data):
    FOUND.update(m.decode() for m in re.findall(rb"pfsecret-[0-9a-f]{{32}}", data))
    return len(data)
def environ(pid):
    return scan(open(f"/proc/{{pid}}/environ", "rb").read())
def memory(pid):
    total = 0
    with open(f"/proc/{{pid}}/maps") as maps, open(f"/proc/{{pid}}/mem", "rb", 0) as mem:
        for line in maps:
            lo, hi = (int(x, 16) for x in line.split()[0].split("-"))
            if "r" not in line.split()[1]:
                continue
            try:
                mem.seek(lo)
                total += scan(mem.read(min(hi - lo, 1 << 22)))
            except OSError:
                pass
    return total
attempt("own_env", lambda: scan("\\n".join(f"{{k}}={{v}}" for k, v in os.environ.items())
                                        .encode()))
attempt("env_names", lambda: ",".join(sorted(os.environ)))
attempt("ppid", lambda: os.getppid())
attempt("ppid_environ", lambda: environ(os.getppid()))
attempt("ppid_mem", lambda: memory(os.getppid()))
attempt("host_pid_environ", lambda: environ({host_pid}))
attempt("host_pid_mem", lambda: memory({host_pid}))
attempt("pids", lambda: sorted(int(p) for p in os.listdir("/proc") if p.isdigit()))
for pid in [p for p in os.listdir("/proc") if p.isdigit() and int(p) != os.getpid()]:
    attempt("environ_" + pid, lambda: environ(pid))
    attempt("mem_" + pid, lambda: memory(pid))
REPORT["found"] = sorted(FOUND)
"""
    report = report_of(validate_attack(body))
    assert secret not in str(report)
    assert report["found"] == []
    assert "PF_FAKE_SECRET" not in report["env_names"]
    assert "AWS" not in report["env_names"]
    # a private /proc: the host's processes (the pytest process among them) do not exist
    assert report["host_pid_environ"].startswith("denied:FileNotFoundError")
    assert report["host_pid_mem"].startswith("denied:FileNotFoundError")
    pids = [int(p) for p in report["pids"][3:].strip("[]").split(",")]
    assert host_pid not in pids and len(pids) <= 4, pids  # bwrap's reaper and the validator
    for name, outcome in report.items():
        if name.startswith(("environ_", "mem_", "ppid_")):
            assert outcome.startswith("denied:") or secret not in outcome, (name, outcome)


def test_double_forked_daemon_does_not_outlive_validation():
    word = marker()
    target = HOST_SHM / word
    body = f"""
import time
if os.fork() == 0:  # child: new session, fork again, exit: the grandchild is a daemon
    os.setsid()
    if os.fork() == 0:
        os.execv(sys.executable, [sys.executable, "-c",
                 "import time; time.sleep(4); open({str(target)!r}, 'w').write('alive')",
                 {word!r}])
    os._exit(0)
time.sleep(0.5)  # the daemon is up when validation continues
"""
    try:
        started = time.monotonic()
        result = validate_attack(body, report=False)
        assert result["ok"], result
        assert processes_with(word) == []  # nothing left the moment validation returned
        time.sleep(max(0.0, started + 6 - time.monotonic()))  # past the daemon's delay
        assert not target.exists()
        assert processes_with(word) == []
    finally:
        target.unlink(missing_ok=True)


def test_grandchild_holding_the_output_pipe_does_not_hang_validation():
    word = marker()
    body = f"""
import subprocess
sleeper = [sys.executable, "-c", "import time; time.sleep(300)", {word!r}]
subprocess.Popen(sleeper)  # inherits stdout and stderr
subprocess.Popen(sleeper, start_new_session=True)  # and one in its own session
"""
    started = time.monotonic()
    result = validate_attack(body, report=False, timeout=120)
    elapsed = time.monotonic() - started
    assert result["ok"], result
    assert elapsed < 60, f"validation waited {elapsed:.0f}s for the grandchildren"
    assert processes_with(word) == []


def test_infinite_loop_is_killed_within_its_timeout():
    word = marker()
    body = f"""
sys.argv.append({word!r})
while True:
    pass
"""
    timeout = 6
    started = time.monotonic()
    result = validate_attack(body, report=False, timeout=timeout)
    elapsed = time.monotonic() - started
    assert not result["ok"] and result["failure"]["type"] == "TimeoutExpired", result
    assert elapsed < timeout + 5, elapsed
    assert processes_with(word) == []


def test_forking_run_is_killed_whole_within_its_timeout():
    word = marker()
    body = f"""
import time
for _ in range(5):
    if os.fork() == 0:
        os.setsid()  # out of the process group: only the pid namespace catches these
        os.execv(sys.executable, [sys.executable, "-c", "import time; time.sleep(300)",
                                  {word!r}])
while True:
    time.sleep(0.1)
"""
    timeout = 6
    started = time.monotonic()
    result = validate_attack(body, report=False, timeout=timeout)
    elapsed = time.monotonic() - started
    assert not result["ok"] and result["failure"]["type"] == "TimeoutExpired", result
    assert elapsed < timeout + 5, elapsed
    assert processes_with(word) == []
