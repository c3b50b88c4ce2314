"""The static lint on LLM-written code: ordinary PyTorch passes, every known escape fails.

Every attack is a complete implementation file (imports, the attack, `build_model`), and
every one is checked twice: with the real modules (torch installed, as locally and in the
training image) and with torch unimportable (the Lambda bundle), where a snapshot of
torch's module-typed attributes stands in.
"""

from __future__ import annotations

import importlib.util
import json
import re
import sys
import textwrap
import types
from importlib import resources
from pathlib import Path

import pytest
import torch
from paperfoundry.codegen import codecheck
from paperfoundry.codegen.codecheck import ALLOWED_MODULES, static_check

from tests.fakes.openai_server import VALID_CODE

ROOT = Path(__file__).resolve().parents[2]
HEADER = """\
import dataclasses
import enum
import math
import typing

import torch
import torch.nn as nn
import torch.nn.functional as F

"""
ATTACK_LINE = HEADER.count("\n") + 1  # the attack's first line in the file
FOOTER = """

def build_model(spec):
    return nn.Linear(spec.d_model, spec.vocab_size)
"""


def impl(body: str) -> str:
    return HEADER + textwrap.dedent(body).strip("\n") + "\n" + FOOTER


@pytest.fixture(params=["real", "no-torch"])
def mode(request, monkeypatch):
    """Run a test with the real modules, and again as in the Lambda bundle (no torch)."""
    if request.param == "no-torch":
        real = codecheck._import_real
        monkeypatch.setattr(
            codecheck, "_import_real", lambda n: None if n.split(".")[0] == "torch" else real(n)
        )
    return request.param


# (id, file body, a fragment the rejection message must contain: the right reason)
ATTACKS = [
    # module-typed attributes of allowed modules
    ("torch.os", 'torch.os.system("id")', "torch.os"),
    ("torch.importlib", 'torch.importlib.import_module("subprocess")', "torch.importlib"),
    ("torch.ctypes", "torch.ctypes.CDLL(None)", "torch.ctypes"),
    ("torch._ops", 'torch._ops.ops.load_library("/tmp/x.so")', "torch._ops"),
    ("torch.builtins", 'torch.builtins.open("/etc/passwd").read()', "torch.builtins"),
    ("dataclasses.builtins", 'dataclasses.builtins.eval("1")', "dataclasses.builtins"),
    ("enum.bltns", 'enum.bltns.exec("1")', "enum.bltns"),
    ("typing.sys", 'typing.sys.modules["os"]', "typing.sys"),
    ("F.torch.os", 'F.torch.os.system("id")', "F.torch.os"),
    ("deep re-export", "x = torch.nn.modules.module.torch.os", ".os"),
    ("alias import", "import enum as e\nx = e.bltns", "e.bltns"),
    ("F.np", "x = F.np", "F.np"),
    (
        "fx exec",
        'torch.fx.graph_module._exec_with_source("x", {})',
        "torch.fx.graph_module._exec_with_source",
    ),
    # getattr & co. with computed or private names
    ("getattr concat", 'getattr(object, "__subcl" + "asses__")()', "string literal"),
    ("getattr variable", "def f(x, name):\n    return getattr(x, name)", "string literal"),
    ("getattr private", 'def f(x):\n    return getattr(x, "_modules")', "getattr(x, '_modules')"),
    ("setattr dunder", 'def f(x, y):\n    setattr(x, "__class__", y)', "setattr(x"),
    ("hasattr dunder", 'def f(x):\n    return hasattr(x, "__globals__")', "hasattr(x"),
    ("getattr splat", "def f(**kw):\n    return getattr(*kw)", "getattr(*kw)"),
    ("getattr passed", "import functools\np = functools.partial(getattr, torch)", "`getattr`"),
    # format-string attribute walks
    ("format attr", 'def f(x):\n    return "{0.__class__}".format(x)', "walks attributes"),
    ("format kw attr", 'def f(g):\n    return "{x.__globals__}".format(x=g)', "walks attributes"),
    ("format index", 'def f(d):\n    return "{0[os]}".format(d)', "walks attributes"),
    ("format nested spec", 'def f(a, b):\n    return "{0:{1.real}}".format(a, b)', "{1.real}"),
    ("format non-literal", "def f(t, x):\n    return t.format(x)", "only on a literal string"),
    ("str.format", 'def f(x):\n    return str.format("{0.real}", x)', "only on a literal string"),
    ("format_map", 'def f(d):\n    return "{a.b}".format_map(d)', "walks attributes"),
    ("format bound", "def f(t):\n    g = t.format\n    return g", "only on a literal string"),
    # binding modules to new names
    ("t = torch", 't = torch\nt.save(nn.Linear(1, 1), "x")', "`torch` is a module"),
    ("m = math", "m = math", "`math` is a module"),
    ("module argument", "def f(x):\n    return x\n\n\nf(torch)", "in `f(torch)`"),
    ("module returned", "def f():\n    return nn", "in `return nn`"),
    ("module in a list", "mods = [torch]", "in `[torch]`"),
    ("submodule value", "x = torch.nn", "`torch.nn` is a module"),
    ("walrus", "if (t := torch):\n    pass", "`torch` is a module"),
    ("rebinding", "nn = 3", "`nn` is a module"),
    ("loop rebinding", "for nn in range(3):\n    pass", "`nn` is a module"),
    ("del module", "del torch", "`torch` is a module"),
    ("global rebinding", "def f():\n    global torch\n    torch = None", "rebinds"),
    ("import as + save", 'import torch as t\nt.save({}, "x")', "torch.save"),
    ("from torch import os", "from torch import os", "torch.os"),
    ("import cpp_extension", "import torch.utils.cpp_extension", "torch.utils"),
    ("import torch.fx", "import torch.fx", "torch.fx"),
    ("import nn internals", "import torch.nn.modules.module", "torch.nn.modules"),
    ("from enum import bltns", "from enum import bltns", "enum.bltns"),
    ("from typing import get_type_hints", "from typing import get_type_hints", "get_type_hints"),
    # dangerous builtins and dunder names
    ("__import__", '__import__("os")', "`__import__`"),
    ("breakpoint", "breakpoint()", "`breakpoint`"),
    ("eval", 'eval("1")', "`eval`"),
    ("exec", 'exec("1")', "`exec`"),
    ("compile", 'compile("1", "x", "exec")', "`compile`"),
    ("open", 'open("/etc/passwd")', "`open`"),
    ("with open", 'with open("x") as fh:\n    pass', "`open`"),
    ("globals", 'globals()["x"] = 1', "`globals`"),
    ("vars", "vars()", "`vars`"),
    ("locals", "locals()", "`locals`"),
    ("dir", "dir()", "`dir`"),
    ("help", "help()", "`help`"),
    ("license", "license()", "`license`"),
    ("__builtins__", 'b = __builtins__["eval"]', "`__builtins__`"),
    ("__loader__", "x = __loader__", "`__loader__`"),
    ("__slots__", "class A:\n    __slots__ = ()", "`__slots__`"),
    ("unbound os", 'os.system("id")', "`os` is not defined"),
    # default arguments that smuggle names in
    ("default __builtins__", "def f(o=__builtins__):\n    return o", "`__builtins__`"),
    ("default eval", 'g = lambda e=eval: e("1")', "`eval`"),
    ("default module", "def f(t=torch):\n    return t.os", "in `t=torch`"),
    # denied torch entry points
    ("torch.load", 'torch.load("w.pt")', "torch.load"),
    ("torch.save", 'torch.save({}, "w.pt")', "torch.save"),
    ("torch.serialization", 'torch.serialization.load("w.pt")', "torch.serialization"),
    ("torch.hub", 'torch.hub.load("x", "y")', "torch.hub"),
    ("torch.jit.load", 'torch.jit.load("m.pt")', "torch.jit"),
    ("torch.jit.script", "@torch.jit.script\ndef f(x):\n    return x", "torch.jit"),
    ("torch.package", 'torch.package.PackageImporter("x")', "torch.package"),
    ("torch.multiprocessing", "torch.multiprocessing.Process()", "torch.multiprocessing"),
    ("torch.distributed", 'torch.distributed.init_process_group("gloo")', "torch.distributed"),
    ("cpp_extension", 'torch.utils.cpp_extension.load_inline("x", "")', "torch.utils"),
    ("torch.library", 'torch.library.Library("x", "DEF")', "torch.library"),
    ("torch.ops.load_library", 'torch.ops.load_library("x.so")', "load_library"),
    ("torch.ops", "x = torch.ops.aten.add", "torch.ops"),
    ("torch.classes", 'torch.classes.load_library("x.so")', "load_library"),
    ("torch.from_file", 'torch.from_file("x", size=4)', "from_file"),
    ("Storage.from_file", 'torch.Storage.from_file("x")', "from_file"),
    ("UntypedStorage.from_file", 'torch.UntypedStorage.from_file("x", False, 4)', "from_file"),
    ("UntypedStorage", "x = torch.UntypedStorage(4)", "torch.UntypedStorage"),
    ("cuda.memory", "torch.cuda.memory.memory_stats()", "torch.cuda.memory"),
    ("cuda.memory private", "torch.cuda.memory._record_memory_history()", "_record_memory"),
    ("cuda.jiterator", 'torch.cuda.jiterator._create_jit_fn("x")', "_create_jit_fn"),
    ("torch.manual_seed", "torch.manual_seed(0)", "torch.manual_seed"),
    ("default_generator", "torch.default_generator.manual_seed(0)", "default_generator"),
    ("torch.random", "torch.random.fork_rng()", "torch.random"),
    ("set_default_device", 'torch.set_default_device("cuda")', "set_default_device"),
    ("torch.backends", "torch.backends.cudnn.benchmark = True", "torch.backends"),
    ("torch.compile", "m = torch.compile(nn.Linear(1, 1))", "compile"),
    ("Module.compile", "def f(m):\n    return m.compile()", "compile"),
    ("F.torch.load", 'F.torch.load("x")', "F.torch.load"),
    ("PyTorchFileWriter", 'torch.PyTorchFileWriter("x")', "PyTorchFileWriter"),
    ("CompilationUnit", 'torch.CompilationUnit("def f(x):\\n    return x\\n")', "Compilation"),
    ("import_ir_module", "x = torch.import_ir_module", "import_ir_module"),
    ("get_device_module", 'torch.get_device_module("cuda").memory.memory_stats()', "returns a"),
    ("autograd beyond Function", "x = torch.autograd.grad", "torch.autograd.grad"),
    # torch.optim: the Optimizer base class and the usual optimizers only (the harness owns
    # the schedule)
    ("lr_scheduler", "s = torch.optim.lr_scheduler.LambdaLR", "torch.optim.lr_scheduler"),
    ("import lr_scheduler", "import torch.optim.lr_scheduler", "torch.optim.lr_scheduler"),
    ("from optim import swa_utils", "from torch.optim import swa_utils", "torch.optim.swa_utils"),
    ("optim as a value", "o = torch.optim", "`torch.optim` is a module"),
    ("numpy tofile", 'def f(x):\n    x.numpy().tofile("x")', "tofile"),
    ("typing.get_type_hints", "def f(x: 'int'):\n    pass\n\n\ntyping.get_type_hints(f)", "hints"),
    ("typing.ForwardRef", 'typing.ForwardRef("x")', "typing.ForwardRef"),
    ("make_dataclass", 'dataclasses.make_dataclass("X", ["a"])', "make_dataclass"),
    # forbidden imports
    *[
        (f"import {m}", f"import {m}", f"`{m}` is not an allowed module")
        for m in ("sys", "os", "subprocess", "socket", "ctypes", "importlib", "pickle", "builtins")
    ],  # fmt: skip
    ("from os import", "from os import system", "`os` is not an allowed module"),
    ("import os.path", "import os.path", "`os` is not an allowed module"),
    ("relative import", "from . import x", "relative imports"),
    ("star import", "from math import *", "star imports"),
    ("__future__ extra", "from __future__ import barry_as_FLUFL", "barry_as_FLUFL"),
    # class-hierarchy and frame walks
    ("type().__mro__", "def f(x):\n    return type(x).__mro__", "type(x).__mro__"),
    ("type().mro()", "def f(x):\n    return type(x).mro()", "type(x).mro"),
    ("type 3 args", 'X = type("X", (), {})', "only `type(obj)`"),
    ("__class__ walk", "def f(x):\n    return x.__class__.__bases__", "x.__class__"),
    ("__dict__", 'def f(self):\n    self.__dict__["x"] = 1', "self.__dict__"),
    ("private member", "def f(m):\n    return m._modules", "m._modules"),
    ("super().__class__", "def f(self):\n    return super().__class__", "__class__"),
    ("__self__", "def f():\n    return print.__self__", "print.__self__"),
    ("module __init__", 'torch.fx.__init__("x")', "torch.fx"),
    ("root module __init__", 'math.__init__("x")', "`math` is a module"),
    ("gi_frame", "def f():\n    return (x for x in []).gi_frame.f_globals", "gi_frame"),
    (
        "traceback frame",
        "def f():\n    try:\n        pass\n    except Exception as e:\n"
        "        return e.__traceback__.tb_frame",
        "tb_frame",
    ),
    ("dunder string", 's = "__globals__"', "'__globals__'"),
    ("enum dunder member", 'E = enum.Enum("E", [("__init_subclass__", 1)])', "__init_subclass__"),
    ("dunder kwargs", 'def f(g):\n    return g(**{"__class__": 1})', "'__class__'"),
    # class-body tricks
    ("__init_subclass__", "class A:\n    def __init_subclass__(cls):\n        pass", "subclass"),
    ("__getattr__ method", "class A:\n    def __getattr__(self, n):\n        return n", "getattr"),
    ("module __getattr__", "def __getattr__(name):\n    return name", "__getattr__"),
    ("__class_getitem__", "class A:\n    def __class_getitem__(cls, i):\n        return i", "item"),
    ("__del__", "class A:\n    def __del__(self):\n        pass", "__del__"),
    ("metaclass", "class A(metaclass=enum.EnumMeta):\n    pass", "class keywords"),
    ("class kwargs", "class A(nn.Module, foo=1):\n    pass", "class keywords"),
    ("subclass type", "class M(type):\n    pass", "`type` may only be called"),
    # decorators
    ("decorator fx", "@torch.fx.wrap\ndef f(x):\n    return x", "torch.fx"),
    ("decorator eval", "@eval\ndef f(x):\n    return x", "`eval`"),
    # monkeypatching the library the harness shares
    ("patch Module", "def g(self, x):\n    return x\n\n\nnn.Module.forward = g", "assigned"),
    ("setattr Module", 'def g(self):\n    pass\n\n\nsetattr(nn.Module, "train", g)', "assigned"),
    ("patch Tensor", "torch.Tensor.add = None", "assigned"),
    # syntax that hides attribute access
    (
        "match class pattern",
        "match F.relu:\n    case object(__globals__=g):\n        pass",
        "`match`",
    ),
    ("async", "async def f(x):\n    await x", "`async`"),
]


@pytest.mark.parametrize(("body", "why"), [a[1:] for a in ATTACKS], ids=[a[0] for a in ATTACKS])
def test_attacks_are_rejected(mode, body, why):
    failure = static_check(impl(body))
    assert failure is not None, body
    assert failure.stage == "static" and failure.type != "ContractError"
    assert "rejected before running" in failure.message
    assert why in failure.message, failure.message
    assert re.search(r"rejected before running: line \d+: ", failure.message)


def test_attack_ids_are_unique():
    assert len({a[0] for a in ATTACKS}) == len(ATTACKS)


def test_a_rejection_names_the_line_the_expression_and_why():
    failure = static_check(impl('x = 1\ntorch.os.system("id")'))
    assert failure.type == "ForbiddenAttribute"
    assert f"line {ATTACK_LINE + 1}: `torch.os`" in failure.message
    assert "module handle" in failure.message
    assert "Allowed imports: torch;" in failure.message  # the repair loop learns the rules
    failure = static_check(impl('torch.load("w.pt")'))
    assert failure.type == "ForbiddenCall"
    assert f"line {ATTACK_LINE}: `torch.load`: `torch.load` is denied: it reads" in failure.message


def test_long_rejections_stay_short_and_keep_the_rules():
    failure = static_check(impl("\n".join(f"x{i} = eval('{i}')" for i in range(40))))
    assert len(failure.message) <= 2000
    assert "and 32 more" in failure.message and "Allowed imports" in failure.message


# -- ordinary PyTorch passes ------------------------------------------------------------------


CONTRACT_DOCS = [
    ROOT / "containers" / "trainer" / "README.md",
    ROOT / "lambdas" / "paperfoundry" / "codegen" / "contract.md",  # the prompt's copy
]


def _contract_examples(doc: Path) -> dict[str, str]:
    """The contract's complete examples: sequence model, image, diffusion, optimizer."""
    text = doc.read_text()
    found = re.findall(r"Minimal (\w+) example.*?```python\n(.*?)```", text, re.DOTALL)
    examples = dict(found)
    assert set(examples) == {"working", "image", "diffusion", "optimizer"}, f"{doc} moved"
    return examples


def test_the_reference_library_and_the_contract_examples_pass(mode):
    library = resources.files("paperfoundry.library")
    for name in [e["file"] for e in json.loads(library.joinpath("catalog.json").read_text())]:
        source = library.joinpath(name).read_text()
        kind = "optimizer" if "def build_optimizer" in source else "model"
        assert static_check(source, name, contract=kind) is None, name
    for doc in CONTRACT_DOCS:
        for name, example in _contract_examples(doc).items():
            kind = "optimizer" if name == "optimizer" else "model"
            assert static_check(example, contract=kind) is None, (doc, name)
    assert static_check(VALID_CODE) is None


CONTRACT_EXTRAS = '''\
"""Declared claims, ablations and baseline options, as the harness contract allows."""

import torch
import torch.nn as nn

CLAIMS = [
    {"id": "recall", "statement": "matches attention on recall", "task": "mqar",
     "metric": "query_accuracy", "comparison": "equivalent", "min_kv_pairs": 8},
]
ABLATIONS = {"without short conv": {"short_conv": False}}
BASELINE = {"short_conv": 3}


class Model(nn.Module):
    def __init__(self, vocab_size, d, short_conv=True):
        super().__init__()
        self.emb = nn.Embedding(vocab_size, d)
        self.head = nn.Linear(d, vocab_size)
        self.short_conv = short_conv

    def forward(self, idx):
        return self.head(self.emb(idx))


def build_model(spec, **kwargs):
    return Model(spec.vocab_size, spec.d_model, **kwargs)
'''

ORDINARY = """\
from __future__ import annotations

import abc
import collections
import enum
import functools
import itertools
import math
import numbers
from dataclasses import dataclass, field
from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn import init


@dataclass
class Config:
    d: int = 32
    extras: list = field(default_factory=list)
    dropout: Optional[float] = None


class Kind(enum.Enum):
    A = enum.auto()


class Base(abc.ABC):
    @abc.abstractmethod
    def size(self) -> int: ...


class Double(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x * 2

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return grad * 2


class Block(nn.Module):
    def __init__(self, d: int, cfg: Config | None = None) -> None:
        nn.Module.__init__(self)
        self.lin = nn.Linear(d, d)
        init.xavier_uniform_(self.lin.weight)
        nn.init.zeros_(self.lin.bias)
        self.register_buffer("mask", torch.tril(torch.ones(4, 4, dtype=torch.bool)))
        self.scale = 1 / math.sqrt(d)
        self.act = functools.partial(F.gelu, approximate="tanh")
        self.cache = collections.OrderedDict()
        if hasattr(self.lin, "bias") and getattr(cfg, "dropout", None):
            setattr(self, "drop", nn.Dropout(cfg.dropout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        with torch.autocast(device_type=x.device.type, enabled=False):
            y = self.act(self.lin(x.float())) * self.scale
        y = y / torch.linalg.vector_norm(y, dim=-1, keepdim=True).clamp_min(1e-6)
        z = torch.fft.irfft(torch.fft.rfft(x.float(), dim=1), n=x.shape[1], dim=1)
        g = torch.special.expit(x)
        return (Double.apply(y) + z + g).to(x.dtype)

    def extra_repr(self) -> str:
        return f"d={self.lin.in_features!r}, scale={self.scale:.3f}"

    def __repr__(self) -> str:
        return "Block({}, {:.2f})".format(self.lin.in_features, self.scale)


@torch.no_grad()
def count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if isinstance(p, nn.Parameter))


def build_model(spec, **kwargs):
    device = "cuda" if torch.cuda.is_available() else "cpu"
    gen = torch.Generator().manual_seed(0)
    pairs = list(itertools.product(range(2), repeat=2))
    assert isinstance(len(pairs), numbers.Integral) and Kind.A.value == 1
    model = nn.Sequential(*[Block(spec.d_model) for _ in range(spec.n_layer)])
    for m in model.modules():
        if isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, std=0.02, generator=gen)
    print(f"{count(model)} parameters on {device}")
    return model


if __name__ == "__main__":
    print(build_model)
"""


OPTIMIZER = """\
import torch
from torch import optim
from torch.optim import Optimizer

OPTIMIZER = {"lr_scale": 0.3}


class SignMomentum(Optimizer):
    \"\"\"Sign of the momentum on matrices; the usual AdamW for gains and biases.\"\"\"

    def __init__(self, params, lr=1e-3, beta=0.9):
        params = list(params)
        super().__init__(params[:1], {"lr": lr, "beta": beta})
        self.adamw = optim.AdamW(params[1:], lr=lr)

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                if "m" not in state:
                    state["m"] = torch.zeros_like(p)
                state["m"].mul_(group["beta"]).add_(p.grad, alpha=1 - group["beta"])
                p.add_(state["m"].sign(), alpha=-group["lr"])
        for inner in self.adamw.param_groups:
            inner["lr"] = self.param_groups[0]["lr"]
        self.adamw.step()
        return loss

    def zero_grad(self, set_to_none=True):
        super().zero_grad(set_to_none=set_to_none)
        self.adamw.zero_grad(set_to_none=set_to_none)


def build_optimizer(params, spec, beta=0.9):
    return SignMomentum(params, beta=beta)
"""


@pytest.mark.parametrize(
    "source", [CONTRACT_EXTRAS, ORDINARY, OPTIMIZER], ids=["contract", "ordinary", "optimizer"]
)
def test_ordinary_pytorch_passes(mode, source):
    assert static_check(source) is None, static_check(source).message


def test_the_file_defines_the_contract_the_plan_chose():
    model, optimizer = ORDINARY, OPTIMIZER
    assert static_check(model, contract="model") is None
    assert static_check(optimizer, contract="optimizer") is None
    wrong = static_check(model, contract="optimizer")
    assert wrong.type == "ContractError"
    assert (
        "the plan's contract is 'optimizer': define a top-level def build_optimizer(params, "
        "spec), not build_model(spec)" in wrong.message
    )
    assert static_check(optimizer, contract="model").type == "ContractError"
    both = static_check(optimizer + "\n\ndef build_model(spec):\n    return None\n")
    assert both.type == "ContractError" and "defines both" in both.message
    neither = static_check("import torch\n")
    assert "no top-level def build_model(spec) (a model) or def build_optimizer" in neither.message


def test_the_optimizer_file_also_runs(tmp_path):
    """The allowed torch.optim surface is real: the optimizer steps a model."""
    path = tmp_path / "optimizer_impl.py"
    path.write_text(OPTIMIZER)
    loader = importlib.util.spec_from_file_location("optimizer_impl", path)
    module = importlib.util.module_from_spec(loader)
    loader.loader.exec_module(module)
    model = torch.nn.Linear(3, 2)
    groups = [{"params": [model.weight]}, {"params": [model.bias]}]
    opt = module.build_optimizer(groups, None)
    before = [p.detach().clone() for p in model.parameters()]
    model(torch.randn(4, 3)).square().sum().backward()
    opt.step()
    opt.zero_grad()
    assert all(not torch.equal(p, q) for p, q in zip(model.parameters(), before, strict=True))
    assert isinstance(opt, torch.optim.Optimizer)


def test_ordinary_pytorch_also_runs(tmp_path, monkeypatch):
    """The allowed surface is real: the ordinary file builds and runs a forward pass."""
    path = tmp_path / "ordinary_impl.py"
    path.write_text(ORDINARY)
    loader = importlib.util.spec_from_file_location("ordinary_impl", path)
    module = importlib.util.module_from_spec(loader)
    monkeypatch.setitem(sys.modules, "ordinary_impl", module)  # dataclasses look it up
    loader.loader.exec_module(module)
    model = module.build_model(types.SimpleNamespace(d_model=8, n_layer=2))
    assert model(torch.randn(2, 5, 8)).shape == (2, 5, 8)


# -- the snapshot used where torch is not installed ---------------------------------------


def test_module_snapshot_covers_the_installed_torch():
    """Every module-typed attribute of an allowed torch module is in the snapshot, so the
    lint without torch rejects what the lint with torch rejects. Fails after a torch
    upgrade that adds module attributes: add them to `_MODULES`."""
    for name, rule in codecheck._MODULES.items():
        if rule.names is not None:
            continue  # an explicit allow-list needs no snapshot
        module = codecheck._import_real(name)
        modules = {a for a, v in vars(module).items() if isinstance(v, types.ModuleType)}
        missing = {a for a in modules if not a.startswith("_")} - rule.submodules
        assert not missing, f"{name}: add {sorted(missing)} to its snapshot"


def test_allowed_modules_are_what_the_prompt_lists():
    assert {"torch", "torch.nn", "torch.nn.functional", "math", "__future__"} <= ALLOWED_MODULES
    assert not ALLOWED_MODULES & {"os", "sys", "builtins", "importlib", "torch.fx", "torch.utils"}
