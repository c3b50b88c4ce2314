"""The Docker-free Lambda bundling: what pip puts in, and what the layer already has."""

from __future__ import annotations

from pathlib import Path

from stacks.bundling import PipLocalBundling, strip_layer_packages


def test_layer_packages_are_removed_from_the_bundle(tmp_path):
    for name in ("pydantic", "pydantic_core", "openai", "httpx", "annotated_types"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "__init__.py").write_text("")
    for name in ("pydantic-2.14.3.dist-info", "openai-3.54.0.dist-info",
                 "typing_extensions-4.15.0.dist-info"):  # fmt: skip
        (tmp_path / name).mkdir()
    (tmp_path / "typing_extensions.py").write_text("")
    removed = strip_layer_packages(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "httpx",
        "openai",
        "openai-3.54.0.dist-info",
    ]
    assert "pydantic" in removed and "typing_extensions.py" in removed


def test_pip_installs_linux_wheels_for_the_lambda_runtime():
    cmd = PipLocalBundling(Path("lambdas"), Path("lambdas/requirements.txt")).pip_command("/out")
    assert cmd[cmd.index("--platform") + 1] == "manylinux2014_x86_64"
    assert cmd[cmd.index("--python-version") + 1] == "3.12"
    assert "--only-binary=:all:" in cmd and cmd[-2:] == ["-r", "lambdas/requirements.txt"]
