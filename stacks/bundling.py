"""Local (Docker-free) bundling of the `lambdas/` code asset.

`try_bundle` pip-installs `lambdas/requirements.txt` as manylinux x86_64 / CPython 3.12
wheels into the output directory and copies the domain package + handlers next to them.
It never returns False (that would make CDK fall back to Docker, which is not available
on the build machines); any failure raises, so `cdk synth` fails loudly instead.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsii
from aws_cdk import BundlingOptions, DockerImage, ILocalBundling
from aws_cdk import aws_lambda as lambda_

PIP_PLATFORM = "manylinux2014_x86_64"
PYTHON_VERSION = "3.12"
ASSET_EXCLUDES = [
    "tests",
    "**/tests",
    "**/__pycache__",
    "**/*.pyc",
    "**/.pytest_cache",
    "**/.mypy_cache",
    "**/.ruff_cache",
    "**/*.egg-info",
]
# The Powertools layer provides pydantic and its dependencies. A requirement that depends
# on pydantic (openai) makes pip put a second copy into the bundle, which would shadow the
# layer's and mix pydantic with a pydantic_core of another version: removed after install.
LAYER_PROVIDED = ("pydantic", "pydantic_core", "annotated_types", "typing_extensions",
                  "typing_inspection")  # fmt: skip


def strip_layer_packages(target: Path) -> list[str]:
    """Delete the layer's packages (modules and dist-info) from a pip --target dir."""
    removed = []
    for entry in sorted(target.iterdir()):
        name = entry.name
        if name.endswith(".dist-info"):
            name = name.split("-")[0]
        name = name.removesuffix(".py").lower().replace("-", "_")
        if name in LAYER_PROVIDED:
            shutil.rmtree(entry) if entry.is_dir() else entry.unlink()
            removed.append(entry.name)
    return removed


_IGNORE = shutil.ignore_patterns(
    "tests",
    "__pycache__",
    "*.pyc",
    ".pytest_cache",
    ".mypy_cache",
    ".ruff_cache",
    "*.egg-info",
    "requirements.txt",
)


@jsii.implements(ILocalBundling)
class PipLocalBundling:
    def __init__(self, source_dir: Path, requirements: Path) -> None:
        self.source_dir = Path(source_dir)
        self.requirements = Path(requirements)

    def pip_command(self, output_dir: str) -> list[str]:
        return [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "--no-compile",
            "--platform",
            PIP_PLATFORM,
            "--implementation",
            "cp",
            "--python-version",
            PYTHON_VERSION,
            "--only-binary=:all:",
            "--upgrade",
            "--target",
            output_dir,
            "-r",
            str(self.requirements),
        ]

    def try_bundle(self, output_dir: str, *, image: DockerImage, **_: Any) -> bool:  # noqa: ARG002
        if self.requirements.is_file():
            subprocess.run(self.pip_command(output_dir), check=True)
            strip_layer_packages(Path(output_dir))
        out = Path(output_dir)
        for entry in sorted(self.source_dir.iterdir()):
            if entry.name in {"tests", "__pycache__", "requirements.txt"} or entry.name.startswith(
                "."
            ):
                continue
            target = out / entry.name
            if entry.is_dir():
                shutil.copytree(entry, target, ignore=_IGNORE, dirs_exist_ok=True)
            else:
                shutil.copy2(entry, target)
        return True


def lambda_code(source_dir: Path) -> lambda_.Code:
    """The single code asset shared by every handler (bundled once, cached by CDK)."""
    source_dir = Path(source_dir)
    requirements = source_dir / "requirements.txt"
    return lambda_.Code.from_asset(
        str(source_dir),
        exclude=ASSET_EXCLUDES,
        bundling=BundlingOptions(
            # Only used if local bundling were unavailable; PipLocalBundling never declines.
            image=lambda_.Runtime.PYTHON_3_12.bundling_image,
            local=PipLocalBundling(source_dir, requirements),
            command=[
                "bash",
                "-c",
                "pip install --no-compile -r requirements.txt -t /asset-output && "
                "cp -r paperfoundry handlers /asset-output/",
            ],
        ),
    )
