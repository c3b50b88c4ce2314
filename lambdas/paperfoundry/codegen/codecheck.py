"""Static checks on generated code: a strict lint, run before the code runs anywhere.

Why an allow-list. The old checks were a deny-list of names and attributes, and Python is
too dynamic for one: `torch` itself re-exports `os`, `sys`, `ctypes`, `importlib` and
`builtins` as attributes, `enum.bltns` and `typing.sys` are modules, `str.format` walks
attributes at run time, and a module bound to a new name hides every later access from a
name-based check. So this lint says what generated code *may* do and rejects the rest:

* Imports: only the modules in `_MODULES` (torch, torch.nn, torch.nn.functional,
  torch.nn.init, torch.linalg, torch.fft, torch.special, a few names of torch.autograd,
  torch.cuda and torch.optim, and the pure standard-library modules math, itertools,
  dataclasses, functools, collections, typing, enum, abc, numbers, __future__; several
  only for the names listed). No relative or star imports.
* Attribute chains rooted at an imported name (`torch.x.y`, `nn.X`, `F.y`, `math.z`) are
  resolved on the real modules (a dict lookup, never a module's `__getattr__`): every
  module on the way must be an allowed one, a module's attribute must be in its
  allow-list, and the chain must not reach a denied entry point (`_DENIED`: files,
  native code, processes, network, state the harness owns). Where torch cannot be
  imported (the AWS Lambda bundle has no torch), a snapshot of torch's module-typed
  attribute names stands in for the real modules: the same rules, minus the checks that
  a name exists.
* Modules are used only as `module.attr`: never bound to a new name, passed, returned,
  stored, reassigned, or monkeypatched (assigning to a library attribute).
* Attributes on anything else (`self.conv`, `x.shape`) are free, except names starting
  with `_` (only `X.__init__(...)` / `super().__init__()` calls) and `_DANGEROUS_ATTRS`
  (frame and module handles, `from_file`, `numpy`, `compile`, ...).
* Names must be defined in the file or be an allowed builtin (`_SAFE_BUILTINS`);
  `getattr`/`setattr`/`delattr`/`hasattr` only with a literal public attribute name,
  `type` only with one argument, `super` only called. Dunder names, `match`, `async`,
  class keywords (metaclass=...), and dunder methods outside `_ALLOWED_DUNDER_METHODS`
  are rejected. `.format`/`.format_map` only on a literal string whose fields are plain
  (no `.` or `[` walks).

* The contract: the top level defines exactly one of `build_model` (a model) and
  `build_optimizer` (an optimizer), the one the plan chose when the caller says which.

This is the first fence, not the only one: the code then runs only in a sandbox (locally:
no environment, no network, resource limits; on AWS: the network-isolated training job).
Each rejection names the line, the expression and why, because the LLM repair loop reads it.
"""

from __future__ import annotations

import ast
import builtins
import importlib
import inspect
import re
import string
import sys
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from ..models import Failure


@dataclass(frozen=True)
class _ModuleRule:
    names: frozenset[str] | None = None  # allowed attributes; None: every public non-module
    classes: frozenset[str] | None = None  # if set, capitalised names must be in it
    # Module-typed attribute names of this module in torch 2.13 (and a few usual module
    # names), for when the module cannot be imported to look; test_codecheck keeps it in
    # step with the installed torch.
    submodules: frozenset[str] = frozenset()


def _names(text: str) -> frozenset[str]:
    return frozenset(text.split())


# torch's top level re-exports its C++ internals (TorchScript compilers, file readers and
# writers, storages); of its classes only these are allowed.
_TORCH_CLASSES = _names(
    "Tensor Size Generator SymInt SymFloat SymBool BoolTensor ByteTensor CharTensor "
    "ShortTensor IntTensor LongTensor HalfTensor BFloat16Tensor FloatTensor DoubleTensor"
)
_TORCH_SUBMODULES = _names(
    "accelerator amp ao autograd backends builtins classes compiler cpp cpu ctypes cuda "
    "distributed distributions export fft func functional functools futures fx glob hub "
    "importlib inspect jit library linalg masked math monitor mps mtia multiprocessing "
    "nested nn onnx ops optim os overrides package platform profiler quantization "
    "quasirandom random return_types serialization signal sparse special storage sys "
    "testing textwrap threading torch torch_version types utils version warnings windows "
    "xpu subprocess socket pickle numpy np"
)
_MODULES: dict[str, _ModuleRule] = {
    "torch": _ModuleRule(classes=_TORCH_CLASSES, submodules=_TORCH_SUBMODULES),
    "torch.nn": _ModuleRule(
        submodules=_names(
            "attention common_types functional grad init intrinsic modules parallel "
            "parameter qat quantizable quantized utils"
        )
    ),
    "torch.nn.functional": _ModuleRule(
        submodules=_names("dataclasses grad importlib math torch warnings np numpy")
    ),
    "torch.nn.init": _ModuleRule(submodules=_names("math torch warnings")),
    "torch.linalg": _ModuleRule(submodules=_names("torch")),
    "torch.fft": _ModuleRule(submodules=_names("torch")),
    "torch.special": _ModuleRule(submodules=_names("torch")),
    "torch.autograd": _ModuleRule(names=_names("Function")),
    "torch.cuda": _ModuleRule(names=_names("is_available device_count is_bf16_supported")),
    # the optimizer contract: a subclass of Optimizer, which may delegate to the usual ones
    # (not lr_scheduler: the harness owns the schedule)
    "torch.optim": _ModuleRule(names=_names("Optimizer SGD Adam AdamW")),
    "math": _ModuleRule(),
    "itertools": _ModuleRule(),
    "dataclasses": _ModuleRule(names=_names("dataclass field")),
    "functools": _ModuleRule(names=_names("partial lru_cache cache reduce")),
    "collections": _ModuleRule(names=_names("namedtuple OrderedDict defaultdict deque Counter")),
    "typing": _ModuleRule(
        names=_names(
            "Any Callable ClassVar Dict Final FrozenSet Generic Iterable Iterator List Literal "
            "Mapping NamedTuple Optional Protocol Sequence Set Tuple Type TypeVar Union "
            "TYPE_CHECKING cast overload"
        )
    ),
    "enum": _ModuleRule(names=_names("Enum IntEnum auto")),
    "abc": _ModuleRule(names=_names("ABC abstractmethod")),
    "numbers": _ModuleRule(names=_names("Number Complex Real Rational Integral")),
    "__future__": _ModuleRule(names=_names("annotations")),
}
ALLOWED_MODULES = frozenset(_MODULES)

_FILES = "reads or writes files"
_NATIVE = "loads native code or compiles code"
_PROCESSES = "starts processes or talks to other machines"
_HARNESS = "changes state the harness owns (seeds, threads, devices, precision, compilation)"
# Entry points denied even where their module is allowed (and named, for a clear message,
# even where the module rules already reject them). A path matches itself and below it.
_DENIED: dict[str, str] = {
    **dict.fromkeys(
        "torch.load torch.save torch.from_file torch.get_file_path torch.serialization "
        "torch.hub torch.package torch.import_ir_module "
        "torch.import_ir_module_from_buffer torch.frombuffer torch.from_dlpack torch.to_dlpack "
        "torch.storage torch.utils.data".split(),
        _FILES,
    ),
    **dict.fromkeys(
        "torch.ops torch.classes torch.library torch.fx torch.jit torch.utils.cpp_extension "
        "torch.cuda.jiterator torch.compile torch.export torch.onnx torch.cond torch.while_loop "
        "torch.parse_ir torch.parse_schema torch.parse_type_comment".split(),
        _NATIVE,
    ),
    "torch.cuda.memory": "swaps in native allocators or writes memory snapshots",
    "torch.get_device_module": "returns a module (torch.cuda, with its native internals)",
    **dict.fromkeys(
        "torch.multiprocessing torch.distributed torch.fork torch.wait "
        "torch.prepare_multiprocessing_environment".split(),
        _PROCESSES,
    ),
    **dict.fromkeys(
        "torch.manual_seed torch.seed torch.initial_seed torch.get_rng_state "
        "torch.set_rng_state torch.default_generator torch.random torch.cuda.manual_seed "
        "torch.cuda.manual_seed_all torch.set_num_threads torch.set_num_interop_threads "
        "torch.init_num_threads torch.backends torch.use_deterministic_algorithms "
        "torch.profiler".split(),
        _HARNESS,
    ),
}
_DENIED_SET_ALLOWED = frozenset({"torch.set_grad_enabled"})  # every other torch.set_* is denied

# Attribute names rejected on any object: module handles under their usual names, frames
# and code (they lead to globals and builtins), file and native-library entry points.
_DANGEROUS_ATTRS: dict[str, str] = {
    **dict.fromkeys(
        "os sys builtins bltns ctypes importlib subprocess socket pickle marshal shutil "
        "pathlib tempfile inspect gc runpy pdb io import_module".split(),
        "is a module handle (only the allowed modules may be used)",
    ),
    **dict.fromkeys(
        "mro f_globals f_locals f_builtins f_back f_code f_trace gi_frame gi_code cr_frame "
        "cr_code ag_frame ag_code tb_frame tb_next func_globals".split(),
        "leads to frames, code or globals (interpreter internals)",
    ),
    **dict.fromkeys(
        "from_file load_library tofile system popen CDLL cdll PyDLL pydll share_memory_".split(),
        "reaches files, processes or native code",
    ),
    **dict.fromkeys("numpy np".split(), "leaves torch for numpy (files, pickles)"),
    "compile": "compiles code (the harness owns compilation)",
}

_SAFE_BUILTINS = _names(
    "abs all any ascii bin bool bytearray bytes callable chr classmethod complex dict divmod "
    "enumerate filter float frozenset hash hex int isinstance issubclass iter len list map max "
    "min next object oct ord pow print property range repr reversed round set slice sorted "
    "staticmethod str sum tuple zip NotImplemented Ellipsis"
) | frozenset(
    name
    for name, value in vars(builtins).items()
    if isinstance(value, type) and issubclass(value, BaseException)
)
# Allowed only as the callee of a direct call, with the checks in _Linter.check_call.
_CALL_ONLY = frozenset({"getattr", "setattr", "delattr", "hasattr", "type", "super"})
_DANGEROUS_NAMES: dict[str, str] = {
    **dict.fromkeys(
        "exec eval compile __import__ breakpoint".split(), "runs dynamic code or a debugger"
    ),
    **dict.fromkeys("open help copyright credits license".split(), "reads files"),
    **dict.fromkeys(
        "globals locals vars dir memoryview exit quit __builtins__ __loader__ __spec__ "
        "__build_class__".split(),
        "reaches interpreter internals",
    ),
}
# Dunder methods a class may define; the others run implicitly (__getattr__, __del__,
# __init_subclass__, __set_name__, __reduce__, __torch_function__, ...).
_ALLOWED_DUNDER_METHODS = _names(
    "__init__ __post_init__ __repr__ __str__ __len__ __iter__ __next__ __getitem__ "
    "__contains__ __call__ __eq__ __ne__ __lt__ __le__ __gt__ __ge__ __hash__ __bool__ "
    "__enter__ __exit__"
)
_DUNDER = re.compile(r"^__\w+__$")
# Substrings that have no business in a string constant: they name the usual escapes.
_DUNDER_STRINGS = (
    "__globals__", "__builtins__", "__subclasses__", "__import__", "__class__", "__mro__",
    "__bases__", "__base__", "__dict__", "__code__", "__getattribute__", "__reduce__",
)  # fmt: skip
_MAX_SHOWN = 8


def _denied_reason(path: str) -> str | None:
    for prefix, why in _DENIED.items():
        if path == prefix or path.startswith(prefix + "."):
            return why
    top = ".".join(path.split(".")[:2])
    if top.startswith("torch.set_") and top not in _DENIED_SET_ALLOWED:
        return _HARNESS
    return None


def _import_real(name: str) -> ModuleType | None:
    """The real module, or None where it is not installed (torch in the Lambda bundle)."""
    try:
        return importlib.import_module(name)
    except Exception:  # missing, or a broken install: either way, use the snapshot
        return None


_UNKNOWN = object()  # an attribute that could not be looked up without running code


def _static_attr(obj: Any, attr: str) -> Any:
    try:
        value = inspect.getattr_static(obj, attr)
    except AttributeError:
        return _UNKNOWN
    return value.__func__ if isinstance(value, staticmethod | classmethod) else value


@dataclass
class _Resolved:
    path: str  # canonical dotted path, e.g. "torch.nn.functional.relu"
    module: str | None = None  # set when the chain ends at an allowed module
    error: str | None = None
    kind: str = "ForbiddenAttribute"


def _format_problem(template: str) -> str | None:
    """Why a literal format string is unsafe (attribute or index walks), or None."""
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError as exc:
        return f"is not a valid format string ({exc})"
    for _, field, spec, _ in parsed:
        if field is not None and ("." in field or "[" in field):
            return f"walks attributes or items in the field {{{field}}}"
        if spec and "{" in spec and (why := _format_problem(spec)):
            return why
    return None


def _short(node: ast.AST) -> str:
    text = ast.unparse(node).replace("\n", " ")
    return text if len(text) <= 80 else text[:77] + "..."


class _Linter:
    def __init__(self, tree: ast.Module) -> None:
        self.tree = tree
        self.problems: list[tuple[int, str, str]] = []
        self.parents: dict[ast.AST, ast.AST] = {}
        self.imports: dict[str, tuple[str, tuple[str, ...]]] = {}  # name -> (module, attrs)
        self.module_names: set[str] = set()  # names an import binds to a module
        self.bound: set[str] = set()  # every name the file binds, in any scope
        self._real: dict[str, ModuleType | None] = {}
        self._denied_ids: set[int] | None = None

    # -- helpers ---------------------------------------------------------------------------

    def add(self, node: ast.AST | int, kind: str, text: str) -> None:
        line = node if isinstance(node, int) else getattr(node, "lineno", 0)
        self.problems.append((line, kind, text))

    def real(self, module: str) -> ModuleType | None:
        if module not in self._real:
            self._real[module] = _import_real(module)
        return self._real[module]

    def denied_object(self, value: Any) -> bool:
        """Denied entry points re-exported under another name (checked by identity)."""
        if self._denied_ids is None:
            ids = {id(getattr(builtins, n)) for n in _DANGEROUS_NAMES if hasattr(builtins, n)}
            ids |= {id(getattr(builtins, n)) for n in _CALL_ONLY}
            for path in _DENIED:  # torch objects only if torch is loaded (else none reached)
                obj: Any = sys.modules.get("torch") if path.startswith("torch.") else None
                for attr in path.split(".")[1:]:
                    obj = vars(obj).get(attr) if isinstance(obj, ModuleType) else None
                if obj is not None and not isinstance(obj, ModuleType):
                    ids.add(id(obj))
            self._denied_ids = ids
        return id(value) in self._denied_ids

    def resolve(self, module: str, attrs: tuple[str, ...]) -> _Resolved:
        """Walk `module.attrs...` on the real objects (see the module docstring)."""
        path, current, obj = module, module, self.real(module) or _UNKNOWN
        for attr in attrs:
            path = f"{path}.{attr}"
            if why := _denied_reason(path):
                return _Resolved(path, error=f"`{path}` is denied: it {why}", kind="ForbiddenCall")
            if current is None:  # a class, function or value: only its attribute names count
                if obj is not _UNKNOWN:
                    obj = _static_attr(obj, attr)
                    if isinstance(obj, ModuleType):
                        return _Resolved(path, error=f"`{path}` is the module `{obj.__name__}`")
                    if obj is not _UNKNOWN and self.denied_object(obj):
                        return _Resolved(path, error=f"`{path}` is denied", kind="ForbiddenCall")
                continue
            rule = _MODULES[current]
            if rule.names is not None and attr not in rule.names:
                allowed = ", ".join(sorted(rule.names))
                return _Resolved(path, error=f"`{path}` is not allowed (from {current}: {allowed})")
            if rule.classes is not None and attr[:1].isupper() and attr not in rule.classes:
                return _Resolved(
                    path, error=f"`{path}` is not allowed (torch classes: {_torch_classes()})"
                )
            if obj is _UNKNOWN:  # module not importable here: use the snapshot
                if path in _MODULES:
                    current = path
                elif attr in rule.submodules:
                    return _Resolved(path, error=f"`{path}` is a module that is not allowed")
                else:
                    current = None
                continue
            if attr not in vars(obj):
                return _Resolved(path, error=f"`{path}` does not exist")
            value = vars(obj)[attr]
            if isinstance(value, ModuleType):
                name = value.__name__
                if name not in _MODULES or sys.modules.get(name) is not value:
                    return _Resolved(path, error=f"`{path}` is the module `{name}`, not allowed")
                path, current, obj = name, name, value
                continue
            if self.denied_object(value):
                return _Resolved(path, error=f"`{path}` is denied", kind="ForbiddenCall")
            current, obj = None, value
        return _Resolved(path, module=current)

    def chain(self, node: ast.Attribute) -> tuple[str, tuple[str, ...]] | None:
        """(root name, attributes) of `name.a.b`, or None when not rooted at a name."""
        attrs: list[str] = []
        value: ast.AST = node
        while isinstance(value, ast.Attribute):
            attrs.append(value.attr)
            value = value.value
        if not isinstance(value, ast.Name):
            return None
        return value.id, tuple(reversed(attrs))

    def is_attr_base(self, node: ast.AST) -> bool:
        parent = self.parents.get(node)
        return isinstance(parent, ast.Attribute) and parent.value is node

    def is_callee(self, node: ast.AST) -> bool:
        parent = self.parents.get(node)
        return isinstance(parent, ast.Call) and parent.func is node

    # -- pass 1: imports and bindings -------------------------------------------------------

    def collect(self) -> None:
        for node in ast.walk(self.tree):
            for child in ast.iter_child_nodes(node):
                self.parents[child] = node
            if isinstance(node, ast.Import):
                self.check_import(node)
            elif isinstance(node, ast.ImportFrom):
                self.check_import_from(node)
            elif isinstance(node, ast.Name) and not isinstance(node.ctx, ast.Load):
                self.bound.add(node.id)
            elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                self.bound.add(node.name)
            elif isinstance(node, ast.arg):
                self.bound.add(node.arg)
            elif isinstance(node, ast.ExceptHandler) and node.name:
                self.bound.add(node.name)
            elif isinstance(node, ast.Global | ast.Nonlocal):
                self.bound.update(node.names)
            elif type(node).__name__ in ("TypeVar", "ParamSpec", "TypeVarTuple"):  # 3.12
                self.bound.add(node.name)  # type: ignore[attr-defined]

    def bind_import(self, node: ast.AST, name: str, module: str, attrs: tuple[str, ...]) -> None:
        if name in _DANGEROUS_NAMES or _DUNDER.match(name):
            self.add(node, "ForbiddenImport", f"`{name}` may not be bound by an import")
            return
        self.bound.add(name)
        resolved = self.resolve(module, attrs)
        if resolved.error:
            self.add(node, "ForbiddenImport", resolved.error)
            return
        self.imports[name] = (module, attrs)
        if resolved.module is not None:
            self.module_names.add(name)

    def check_import(self, node: ast.Import) -> None:
        for alias in node.names:
            parts = alias.name.split(".")
            prefixes = [".".join(parts[: i + 1]) for i in range(len(parts))]
            bad = next((p for p in prefixes if p not in _MODULES), None)
            if bad is not None:
                self.add(node, "ForbiddenImport", f"`import {alias.name}`: {_not_allowed(bad)}")
            elif alias.asname:
                self.bind_import(node, alias.asname, alias.name, ())
            else:
                self.bind_import(node, parts[0], parts[0], ())

    def check_import_from(self, node: ast.ImportFrom) -> None:
        module = node.module or ""
        if node.level:
            self.add(node, "ForbiddenImport", "relative imports are not allowed (one file)")
            return
        if module not in _MODULES:
            self.add(node, "ForbiddenImport", f"`from {module} import ...`: {_not_allowed(module)}")
            return
        for alias in node.names:
            if alias.name == "*":
                self.add(
                    node, "ForbiddenImport", f"`from {module} import *`: star imports hide names"
                )
            elif alias.name.startswith("_"):
                self.add(node, "ForbiddenImport", f"`from {module} import {alias.name}`: private")
            elif module == "__future__":
                if alias.name not in _MODULES[module].names:  # type: ignore[operator]
                    self.add(node, "ForbiddenImport", f"`from __future__ import {alias.name}`")
            else:
                self.bind_import(node, alias.asname or alias.name, module, (alias.name,))

    # -- pass 2: every node ----------------------------------------------------------------

    def check(self) -> None:
        for node in ast.walk(self.tree):
            if isinstance(node, ast.Name):
                self.check_name(node)
            elif isinstance(node, ast.Attribute):
                self.check_attribute(node)
            elif isinstance(node, ast.Call):
                self.check_call(node)
            elif isinstance(node, ast.ClassDef):
                self.check_class(node)
            elif isinstance(node, ast.FunctionDef):
                self.check_def(node)
            elif isinstance(node, ast.arg):
                self.check_binding(node, node.arg, "parameter")
            elif isinstance(node, ast.ExceptHandler) and node.name:
                self.check_binding(node, node.name, "exception name")
            elif isinstance(node, ast.Global | ast.Nonlocal):
                for name in node.names:
                    self.check_binding(node, name, "declared name")
            elif isinstance(node, ast.Constant) and isinstance(node.value, str):
                self.check_string(node)
            elif isinstance(
                node,
                ast.Match | ast.AsyncFunctionDef | ast.Await | ast.AsyncFor | ast.AsyncWith,
            ):
                what = "`match`" if isinstance(node, ast.Match) else "`async`/`await`"
                self.add(node, "ForbiddenSyntax", f"{what} is not allowed in generated code")

    def check_binding(self, node: ast.AST, name: str, what: str) -> None:
        if name in _DANGEROUS_NAMES or name in _CALL_ONLY or _DUNDER.match(name):
            self.add(node, "ForbiddenName", f"{what} `{name}`: this name may not be bound")
        elif name in self.module_names:
            self.add(node, "ForbiddenName", f"{what} `{name}` rebinds an imported module")

    def check_name(self, node: ast.Name) -> None:
        name, ctx = node.id, node.ctx
        if name in _DANGEROUS_NAMES:
            self.add(node, "ForbiddenName", f"`{name}` {_DANGEROUS_NAMES[name]}")
        elif name == "__name__" and isinstance(ctx, ast.Load):
            return  # `if __name__ == "__main__":`
        elif _DUNDER.match(name):
            self.add(node, "ForbiddenName", f"`{name}`: dunder names are not allowed")
        elif name in _CALL_ONLY and not self.is_callee(node):
            self.add(node, "ForbiddenName", f"`{name}` may only be called directly, `{name}(...)`")
        elif name in self.module_names and not (
            isinstance(ctx, ast.Load) and self.is_attr_base(node)
        ):
            self.add(node, "ForbiddenName", _module_value(name, _short(self.parents[node])))
        elif not isinstance(ctx, ast.Load):
            self.check_binding(node, name, "name")
        elif not (name in self.bound or name in _SAFE_BUILTINS or name in _CALL_ONLY):
            self.add(
                node,
                "ForbiddenName",
                f"`{name}` is not defined in this file and is not an allowed builtin",
            )

    def check_attribute(self, node: ast.Attribute) -> None:
        attr = node.attr
        if attr == "__init__" and self.is_callee(node):
            self.check_init_target(node.value)
            return
        if attr.startswith("_"):
            self.add(
                node,
                "ForbiddenAttribute",
                f"`{_short(node)}`: no attributes starting with `_` (name your own "
                "members without it; of the dunders only `super().__init__()` is allowed)",
            )
            return
        if attr in _DANGEROUS_ATTRS:
            self.add(
                node, "ForbiddenAttribute", f"`{_short(node)}`: `.{attr}` {_DANGEROUS_ATTRS[attr]}"
            )
            return
        if attr in ("format", "format_map"):
            value = node.value
            if not (isinstance(value, ast.Constant) and isinstance(value.value, str)):
                self.add(
                    node,
                    "ForbiddenSyntax",
                    f"`{_short(node)}`: `.{attr}` only on a literal string (use an f-string)",
                )
            elif why := _format_problem(value.value):
                self.add(node, "ForbiddenSyntax", f"`{_short(node)}`: the format string {why}")
            return
        if self.is_attr_base(node):
            return  # the whole chain is checked once, at its outermost attribute
        chain = self.chain(node)
        if chain is None or chain[0] not in self.imports:
            return
        root, attrs = chain
        if any(a.startswith("_") or a in _DANGEROUS_ATTRS for a in attrs):
            return  # reported at that attribute
        module, prefix = self.imports[root]
        resolved = self.resolve(module, prefix + attrs)
        if resolved.error:
            self.add(node, resolved.kind, f"`{_short(node)}`: {resolved.error}")
        elif not isinstance(node.ctx, ast.Load):
            self.add(
                node,
                "ForbiddenAttribute",
                f"`{_short(node)}`: library attributes may not be assigned or deleted",
            )
        elif resolved.module is not None:
            self.add(node, "ForbiddenName", _module_value(_short(node), _short(self.parents[node])))

    def check_init_target(self, node: ast.expr) -> None:
        """`X.__init__(...)`: X must be a class (`nn.Module`), never a module."""
        if isinstance(node, ast.Name) and node.id in self.module_names:
            self.add(node, "ForbiddenName", _module_value(node.id, _short(self.parents[node])))
        elif isinstance(node, ast.Attribute) and (chain := self.chain(node)):
            root, attrs = chain
            if root in self.imports and not any(a.startswith("_") for a in attrs):
                module, prefix = self.imports[root]
                resolved = self.resolve(module, prefix + attrs)
                if resolved.error or resolved.module is not None:
                    why = resolved.error or "is a module"
                    self.add(node, resolved.kind, f"`{_short(node)}.__init__`: {why}")

    def check_call(self, node: ast.Call) -> None:
        func = node.func
        if not (isinstance(func, ast.Name) and func.id in _CALL_ONLY):
            return
        name, args = func.id, node.args
        starred = any(isinstance(a, ast.Starred) for a in args) or any(
            k.arg is None for k in node.keywords
        )
        if name == "type":
            if len(args) != 1 or node.keywords:
                self.add(node, "ForbiddenCall", f"`{_short(node)}`: only `type(obj)`")
        elif name == "super":
            if starred or len(args) not in (0, 2):
                self.add(node, "ForbiddenCall", f"`{_short(node)}`: only `super()`")
        else:
            arity = {"getattr": (2, 3), "hasattr": (2,), "setattr": (3,), "delattr": (2,)}
            attr = args[1] if len(args) >= 2 else None
            if starred or node.keywords or len(args) not in arity[name]:
                self.add(node, "ForbiddenCall", f"`{_short(node)}`: wrong arguments")
            elif not (isinstance(attr, ast.Constant) and isinstance(attr.value, str)):
                self.add(
                    node,
                    "ForbiddenCall",
                    f"`{_short(node)}`: the attribute name must be a string literal",
                )
            elif not attr.value.isidentifier() or attr.value.startswith("_"):
                self.add(node, "ForbiddenCall", f"`{_short(node)}`: private or invalid name")
            elif attr.value in _DANGEROUS_ATTRS or attr.value in ("format", "format_map"):
                self.add(node, "ForbiddenCall", f"`{_short(node)}`: `{attr.value}` is not allowed")
            elif name in ("setattr", "delattr") and self.rooted_at_import(args[0]):
                self.add(
                    node,
                    "ForbiddenCall",
                    f"`{_short(node)}`: library attributes may not be assigned or deleted",
                )

    def rooted_at_import(self, node: ast.AST) -> bool:
        while isinstance(node, ast.Attribute):
            node = node.value
        return isinstance(node, ast.Name) and node.id in self.imports

    def check_class(self, node: ast.ClassDef) -> None:
        if node.keywords:
            self.add(
                node,
                "ForbiddenSyntax",
                f"class `{node.name}`: class keywords (metaclass=..., ...) are not allowed",
            )
        self.check_binding(node, node.name, "class")

    def check_def(self, node: ast.FunctionDef) -> None:
        in_class = isinstance(self.parents.get(node), ast.ClassDef)
        if _DUNDER.match(node.name):
            if not in_class or node.name not in _ALLOWED_DUNDER_METHODS:
                self.add(
                    node,
                    "ForbiddenSyntax",
                    f"`def {node.name}`: only these dunder methods may be defined, in a class: "
                    + ", ".join(sorted(_ALLOWED_DUNDER_METHODS)),
                )
        elif not in_class:  # a method may be called `eval` or `compile`; a function not
            self.check_binding(node, node.name, "function")

    def check_string(self, node: ast.Constant) -> None:
        text = node.value
        if (_DUNDER.match(text) and text != "__main__") or any(d in text for d in _DUNDER_STRINGS):
            self.add(
                node,
                "ForbiddenAttribute",
                f"the string {text[:40]!r} names interpreter internals",
            )


def _torch_classes() -> str:
    return ", ".join(sorted(_TORCH_CLASSES))


def _not_allowed(module: str) -> str:
    return f"`{module}` is not an allowed module"


def _module_value(name: str, context: str) -> str:
    return (
        f"`{name}` is a module (in `{context}`): use it only as `{name}.<name>`; a module "
        "may not be bound to another name, passed, returned, stored or reassigned"
    )


def allowed_summary() -> str:
    """The allow-list in one line, for rejection messages (and prompts)."""
    parts = []
    for name, rule in _MODULES.items():
        if name == "__future__":
            continue
        parts.append(f"{name} ({', '.join(sorted(rule.names))})" if rule.names else name)
    return (
        "Allowed imports: "
        + "; ".join(parts)
        + ". Use modules only as `module.name`; no attributes starting with `_` (only "
        "`super().__init__()`; defining __init__, __repr__, ... is fine); no file, "
        "network, process, dynamic-code or interpreter access."
    )


# What a file defines for each contract (the harness's validate.load_impl and claims.py)
ENTRY_POINTS = {"model": "build_model(spec)", "optimizer": "build_optimizer(params, spec)"}


def _contract_problem(tree: ast.Module, contract: str | None) -> str | None:
    """Why the top level does not define the contract's entry point (exactly one of them,
    and the one the plan chose when `contract` is given), or None."""
    names = {n.name for n in tree.body if isinstance(n, ast.FunctionDef)}
    defined = [kind for kind, entry in ENTRY_POINTS.items() if entry.split("(")[0] in names]
    if not defined:
        model, optimizer = ENTRY_POINTS.values()
        return f"no top-level def {model} (a model) or def {optimizer} (an optimizer)"
    if len(defined) > 1:
        return "defines both build_model and build_optimizer: a file is one model or one optimizer"
    if contract is not None and defined != [contract]:
        return (
            f"the plan's contract is {contract!r}: define a top-level "
            f"def {ENTRY_POINTS[contract]}, not {ENTRY_POINTS[defined[0]]}"
        )
    return None


def static_check(
    source: str, file_name: str = "impl.py", contract: str | None = None
) -> Failure | None:
    """None when the code may run; otherwise a Failure with stage "static". `contract`
    ("model" | "optimizer"), when given, is the entry point the file must define."""
    try:
        tree = ast.parse(source, filename=file_name)
    except SyntaxError as exc:
        return Failure(
            stage="static",
            type="SyntaxError",
            message=f"line {exc.lineno}: {exc.msg}",
            traceback=(exc.text or "").rstrip(),
        )
    linter = _Linter(tree)
    linter.collect()
    linter.check()
    problems = sorted(dict.fromkeys(linter.problems), key=lambda p: p[0])  # by line, stable
    if why := _contract_problem(tree, contract):
        problems.append((0, "ContractError", why))
    if not problems:
        return None
    kinds = sorted({kind for _, kind, _ in problems})
    shown = [f"line {line}: {what}" if line else what for line, _, what in problems[:_MAX_SHOWN]]
    if len(problems) > _MAX_SHOWN:
        shown.append(f"and {len(problems) - _MAX_SHOWN} more")
    summary = allowed_summary()
    head = "rejected before running: " + "; ".join(shown)
    return Failure(
        stage="static",
        type=kinds[0] if len(kinds) == 1 else "ForbiddenCode",
        message=head[: 1990 - len(summary)] + ". " + summary,
    )
