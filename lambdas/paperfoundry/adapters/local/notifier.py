"""Console-and-file notifier: prints the digest and keeps it next to the report."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path


class ConsoleFileNotifier:
    def __init__(self, path: Path, echo: Callable[[str], None] = print) -> None:
        self.path = path
        self.echo = echo

    def notify(self, subject: str, text: str, report_uri: str | None = None) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.write_text(f"Subject: {subject}\n\n{text}\n")
        self.echo(f"{subject}\n{text}")
