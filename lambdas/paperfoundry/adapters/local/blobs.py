"""Filesystem blob store: keys are relative paths under a root directory."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path, PurePosixPath


def _umask() -> int:
    """The process umask, read without changing it (Linux), else by setting it back."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


class FileBlobStore:
    def __init__(self, root: Path | str) -> None:
        self.root = Path(root).resolve()

    def path(self, key: str) -> Path:
        parts = PurePosixPath(key).parts
        if not parts or key.startswith("/") or ".." in parts:
            raise ValueError(f"invalid blob key {key!r}")
        return self.root.joinpath(*parts)

    def put(self, key: str, data: bytes, content_type: str = "application/octet-stream") -> str:
        target = self.path(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        # Write-then-rename: a reader never sees half a report.
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
        os.fchmod(fd, 0o666 & ~_umask())  # mkstemp makes 0600; reports are for reading
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, target)
        return str(target)

    def uri(self, key: str) -> str:
        return str(self.path(key))

    def get(self, key: str) -> bytes:
        try:
            return self.path(key).read_bytes()
        except FileNotFoundError:
            raise KeyError(key) from None

    def get_if_changed(self, key: str, etag: str | None) -> tuple[bytes | None, str]:
        try:
            stat = self.path(key).stat()
        except FileNotFoundError:
            raise KeyError(key) from None
        current = f"{stat.st_mtime_ns:x}-{stat.st_size:x}-{stat.st_ino:x}"  # put renames
        return (None, current) if current == etag else (self.get(key), current)

    def exists(self, key: str) -> bool:
        return self.path(key).is_file()
