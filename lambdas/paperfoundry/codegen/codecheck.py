"""Static checks on generated code, before it runs anywhere.

An allow-list of imports (torch and a few pure standard-library modules) and a deny-list
of names and attributes that reach files, processes, the network, dynamic code or the
interpreter's internals. This is the first fence, not the only one: the code then runs
only in a sandbox (locally: no environment, no network, resource limits; on AWS: the
network-isolated training job).
"""

from __future__ import annotations

import ast

from ..models import Failure

ALLOWED_MODULES = frozenset(
    {
        "torch",
        "math",
        "typing",
        "dataclasses",
        "functools",
        "itertools",
        "collections",
        "enum",
        "abc",
        "numbers",
        "__future__",
    }
)
FORBIDDEN_NAMES = frozenset(
    {
        "open", "exec", "eval", "compile", "__import__", "input", "breakpoint",
        "globals", "locals", "vars", "getattr", "setattr", "delattr", "memoryview",
        "exit", "quit", "help", "__builtins__", "__loader__", "__spec__",
    }
)  # fmt: skip
# Dunder attributes that lead from an object to modules, frames or builtins.
FORBIDDEN_DUNDERS = frozenset(
    {
        "__globals__", "__builtins__", "__subclasses__", "__bases__", "__base__", "__mro__",
        "__code__", "__closure__", "__dict__", "__getattribute__", "__reduce__",
        "__reduce_ex__", "__loader__", "__spec__", "__import__", "__traceback__", "f_globals",
        "f_locals", "f_back", "gi_frame", "tb_frame",
    }
)  # fmt: skip
# torch entry points that load/save files, compile native code, spawn processes,
# talk to other machines, or take over what the harness owns (seeds, threads).
FORBIDDEN_TORCH = (
    "torch.load", "torch.save", "torch.hub", "torch.package", "torch.utils.cpp_extension",
    "torch.utils.data", "torch.distributed", "torch.multiprocessing", "torch.ops.load_library",
    "torch.classes.load_library", "torch.jit.load", "torch.jit.save", "torch.from_file",
    "torch.manual_seed", "torch.seed", "torch.set_num_threads", "torch.cuda.manual_seed",
    "torch.backends", "torch.compile", "torch.library", "torch.export", "torch.onnx",
    "torch.profiler", "torch.storage",
)  # fmt: skip


def _dotted(node: ast.AST) -> str | None:
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
        return ".".join(reversed(parts))
    return None


_ATTR_FUNCS = ("getattr", "setattr", "delattr", "hasattr")


def _safe_attr_calls(tree: ast.AST) -> set[int]:
    """ids of `getattr(obj, "plain_name", ...)` callee nodes: a literal, non-private
    attribute name cannot reach interpreter internals, so these are allowed."""
    safe = set()
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in _ATTR_FUNCS
            and len(node.args) >= 2
            and isinstance(node.args[1], ast.Constant)
            and isinstance(node.args[1].value, str)
            and not node.args[1].value.startswith("_")
        ):
            safe.add(id(node.func))
    return safe


def _problems(tree: ast.AST) -> list[tuple[int, str, str]]:
    found: list[tuple[int, str, str]] = []
    aliases: dict[str, str] = {}  # local name -> module path (import torch.nn as nn)
    safe_calls = _safe_attr_calls(tree)
    for node in ast.walk(tree):
        line = getattr(node, "lineno", 0)
        if isinstance(node, ast.Import):
            for alias in node.names:
                root = alias.name.split(".")[0]
                if root not in ALLOWED_MODULES:
                    found.append((line, "ForbiddenImport", f"import {alias.name}"))
                aliases[alias.asname or root] = alias.name if alias.asname else root
        elif isinstance(node, ast.ImportFrom):
            module = node.module or ""
            if node.level or module.split(".")[0] not in ALLOWED_MODULES:
                found.append((line, "ForbiddenImport", f"from {'.' * node.level}{module} import"))
                continue
            for alias in node.names:
                full = f"{module}.{alias.name}"
                aliases[alias.asname or alias.name] = full
                if alias.name == "*":
                    found.append((line, "ForbiddenImport", f"from {module} import *"))
                elif _forbidden_torch(full):
                    found.append((line, "ForbiddenCall", full))
        elif isinstance(node, ast.Name) and node.id in FORBIDDEN_NAMES:
            if id(node) not in safe_calls:
                found.append((line, "ForbiddenName", node.id))
        elif isinstance(node, ast.Attribute):
            if node.attr in FORBIDDEN_DUNDERS:
                found.append((line, "ForbiddenAttribute", node.attr))
            dotted = _dotted(node)
            if dotted:
                head, _, rest = dotted.partition(".")
                resolved = f"{aliases.get(head, head)}{'.' + rest if rest else ''}"
                if _forbidden_torch(resolved):
                    found.append((line, "ForbiddenCall", resolved))
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            if any(d in node.value for d in ("__globals__", "__builtins__", "__subclasses__")):
                found.append((line, "ForbiddenAttribute", "dunder name in a string"))
    return found


def _forbidden_torch(dotted: str) -> bool:
    return any(dotted == f or dotted.startswith(f + ".") for f in FORBIDDEN_TORCH)


def static_check(source: str, file_name: str = "impl.py") -> Failure | None:
    """None when the code may run; otherwise a Failure with stage "static"."""
    try:
        tree = ast.parse(source, filename=file_name)
    except SyntaxError as exc:
        return Failure(
            stage="static",
            type="SyntaxError",
            message=f"line {exc.lineno}: {exc.msg}",
            traceback=(exc.text or "").rstrip(),
        )
    problems = _problems(tree)
    if not any(isinstance(n, ast.FunctionDef) and n.name == "build_model" for n in tree.body):
        problems.append((0, "ContractError", "no top-level def build_model(spec)"))
    if not problems:
        return None
    kinds = sorted({kind for _, kind, _ in problems})
    lines = [f"line {line}: {what}" if line else what for line, _, what in problems[:10]]
    return Failure(
        stage="static",
        type=kinds[0] if len(kinds) == 1 else "ForbiddenCode",
        message=(
            "rejected before running: "
            + "; ".join(lines)
            + f". Allowed imports: {', '.join(sorted(ALLOWED_MODULES - {'__future__'}))}; no "
            "file, network, process, dynamic-code or interpreter access."
        )[:2000],
    )
