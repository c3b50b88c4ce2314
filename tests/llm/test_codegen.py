"""The implementer's loop (plan -> code -> checks -> repair) and the sandbox it runs code in."""

from __future__ import annotations

import json
import os
import socket
from importlib import resources
from pathlib import Path

import pytest
from paperfoundry import pipeline
from paperfoundry.adapters.local.blobs import FileBlobStore
from paperfoundry.adapters.local.sandbox import SandboxValidator, no_network_prefix
from paperfoundry.codegen.codecheck import static_check
from paperfoundry.codegen.implementer import (
    LLMImplementer,
    contract,
    contract_parts,
    extract_code,
)
from paperfoundry.config import Config
from paperfoundry.models import Pick

from tests.fakes.openai_server import (
    PLAN,
    VALID_CODE,
    WRONG_SHAPE_CODE,
    Reply,
    code_reply,
)

from .conftest import DAY
from .test_review import PAPERS


class SpyValidator:
    """The real sandbox, counting what it was asked to run."""

    def __init__(self) -> None:
        self.inner = SandboxValidator("tiny", timeout_seconds=120)
        self.sources: list[str] = []

    @property
    def name(self) -> str:
        return self.inner.name

    def validate(self, source, file_name, task):
        self.sources.append(source)
        return self.inner.validate(source, file_name, task)


def offline_text(paper):
    return f"# {paper.title}\n\n{paper.abstract}", "abstract only"


@pytest.fixture
def implementer(make_llm):
    spy = SpyValidator()
    return LLMImplementer(make_llm(), Config(), validator=spy, fetch_text=offline_text), spy


def test_code_that_fails_validation_is_repaired(fake, implementer):
    impl, spy = implementer
    fake.add("code", code_reply(WRONG_SHAPE_CODE), code_reply(VALID_CODE))
    result = impl.implement(PAPERS[0])
    assert result.status == "implemented" and result.provenance == "llm"
    assert [a.ok for a in result.attempts] == [False, True]
    first = result.attempts[0].failure
    assert first.stage == "shape" and first.type == "ShapeError"
    # the repair round showed the model its code and the harness's structured error
    repair = fake.requests_for("code")[1]["messages"]
    assert "ShapeError" in repair[-1]["content"] and "[:, :-1]" in repair[-2]["content"]
    assert result.plan.name == "ShortConvMixer" and result.plan.task == "mqar"
    assert result.source_code == VALID_CODE and result.validated
    assert result.cost_usd > 0 and result.tokens > 0
    assert result.model == "gpt-5" and result.prompt_version == "implement-v3"
    assert len(spy.sources) == 2
    assert "no network" in result.attempts[1].checked_by or not no_network_prefix()


def test_code_that_never_passes_ends_as_implementation_failed(fake, implementer, store, tmp_path):
    impl, spy = implementer
    fake.defaults["code"] = lambda body: code_reply(WRONG_SHAPE_CODE)
    store.upsert_papers([PAPERS[0]])
    pick = Pick(arxiv_id=PAPERS[0].arxiv_id, day=DAY, rank=1, score=0.5, gpu_minutes=20)
    blobs = FileBlobStore(tmp_path)
    result = pipeline.implement_pick(pick, store=store, implementer=impl, blobs=blobs)
    assert result.status == "failed"
    assert result.reason.startswith("implementation failed after 3 attempts")
    assert len(result.attempts) == 3 and not any(a.ok for a in result.attempts)
    assert len(fake.requests_for("code")) == 3
    assert store.get_implementation(pick.arxiv_id).attempts[2].failure.type == "ShapeError"
    # not retried on a rerun (same answer, same cost) unless forced
    again = pipeline.implement_pick(pick, store=store, implementer=impl, blobs=blobs)
    assert len(again.attempts) == 3 and len(fake.requests_for("code")) == 3
    assert not (tmp_path / "implementations").exists()  # failed code never enters the library


@pytest.mark.parametrize(
    "bad",
    [
        "import os\n" + VALID_CODE,
        VALID_CODE.replace("import torch\n", "import torch\nimport socket\n", 1)
        + "\nsocket.create_connection(('127.0.0.1', 80))\n",
        VALID_CODE + "\n__import__('subprocess').run(['id'])\n",
        VALID_CODE.replace("import torch\n", "import torch\nfrom urllib import request\n", 1),
    ],
    ids=["os", "socket", "dunder-import", "urllib"],
)
def test_forbidden_code_is_rejected_before_running(fake, implementer, bad):
    impl, spy = implementer
    fake.add("code", code_reply(bad), code_reply(VALID_CODE))
    result = impl.implement(PAPERS[0])
    first = result.attempts[0]
    assert not first.ok and first.failure.stage == "static"
    assert "rejected before running" in first.failure.message
    assert first.checked_by.startswith("static checks")
    assert spy.sources == [VALID_CODE]  # the forbidden file never reached the sandbox
    assert result.status == "implemented"


def test_passing_code_enters_the_library_with_provenance(fake, implementer, store, tmp_path):
    impl, _ = implementer
    store.upsert_papers([PAPERS[1]])
    pick = Pick(arxiv_id=PAPERS[1].arxiv_id, day=DAY, rank=1, score=0.5, gpu_minutes=20)
    result = pipeline.implement_pick(
        pick, store=store, implementer=impl, blobs=FileBlobStore(tmp_path)
    )
    assert result.status == "implemented"
    code = tmp_path / "implementations" / "library" / "llm_2501_00002.py"
    assert code.read_text() == VALID_CODE and result.code_uri == str(code)
    provenance = code.with_suffix(".json").read_text()
    assert '"model": "gpt-5"' in provenance and '"plan"' in provenance


def test_spend_cap_before_code_leaves_the_pick_not_implemented(fake, make_llm):
    llm = make_llm(daily_spend_cap_usd=0.0)
    impl = LLMImplementer(llm, Config(), validator=None, fetch_text=offline_text)
    result = impl.implement(PAPERS[0])
    assert result.status == "not_implemented" and "spend cap" in result.reason
    assert fake.requests == []


def test_without_a_sandbox_code_is_marked_for_validation_in_the_training_job(fake, make_llm):
    impl = LLMImplementer(make_llm(), Config(), validator=None, fetch_text=offline_text)
    result = impl.implement(PAPERS[0])
    assert result.status == "implemented" and result.validated is False
    assert "training job" in result.attempts[0].checked_by


def test_static_check_accepts_the_reference_library():
    library = resources.files("paperfoundry.library")
    for entry in json.loads(library.joinpath("catalog.json").read_text()):
        source = library.joinpath(entry["file"]).read_text()
        assert static_check(source, entry["file"]) is None, entry["file"]
    assert static_check(VALID_CODE) is None


@pytest.mark.parametrize(
    "snippet",
    [
        "open('/etc/passwd').read()",
        "eval('1+1')",
        "torch.load('weights.pt')",
        "torch.hub.load('x', 'y')",
        "torch.manual_seed(0)",
        "().__class__.__bases__[0].__subclasses__()",
        "getattr(torch, '__builtins__')",
        "globals()['x'] = 1",
    ],
)
def test_static_check_rejects(snippet):
    failure = static_check(f"import torch\n\ndef build_model(spec):\n    {snippet}\n")
    assert failure is not None and failure.stage == "static"


def test_static_check_needs_build_model_and_valid_syntax():
    assert static_check("import torch\n").type == "ContractError"
    assert static_check("def build_model(spec):\n  return (\n").type == "SyntaxError"


def test_extract_code_takes_the_fenced_block():
    reply = "Plan done.\n```python\nprint(1)\n```\nand\n```python\nimport torch\nx = 1\n```"
    assert extract_code(reply) == "import torch\nx = 1\n"
    assert extract_code("import torch\n") == "import torch\n"


def test_contract_matches_the_trainer_readme():
    readme = (Path(__file__).parents[2] / "containers" / "trainer" / "README.md").read_text()
    for tags, part in contract_parts():  # the spec the model sees is the harness's own
        assert part in readme, sorted(tags)
    # every family gets the common part and its own, in the README's order
    assert contract("mqar") == contract("lm") and contract("mqar") in readme
    for task, kind in [("image", "model"), ("diffusion", "model"), ("lm", "optimizer")]:
        text = contract(task, kind)
        assert text.startswith("## The implementation contract")
        assert "### Image, diffusion and optimizer papers" in text
        heading = "Minimal optimizer example" if kind == "optimizer" else f"Minimal {task} example"
        assert text.count("Minimal ") == 1 and heading in text, (task, kind)
    # and nothing the model cannot see (the library's files)
    assert not any("Reference implementations" in part for _, part in contract_parts())


# -- the sandbox itself (static checks bypassed on purpose) ---------------------------------


def test_sandbox_has_no_credentials(monkeypatch):
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "should-not-leak")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-should-not-leak")
    probe = (
        "import os\nleaked = [k for k in os.environ if 'KEY' in k or 'SECRET' in k]\n"
        "assert not leaked, f'credentials visible: {leaked}'\n" + VALID_CODE
    )
    assert SandboxValidator("tiny", 120).validate(probe, "probe.py", "mqar") is None


@pytest.mark.skipif(not no_network_prefix(), reason="unshare -rn not permitted here")
def test_sandbox_has_no_network():
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    port = listener.getsockname()[1]
    probe = f"import socket\nsocket.create_connection(('127.0.0.1', {port}), timeout=3)\n"
    failure = SandboxValidator("tiny", 120).validate(probe + VALID_CODE, "probe.py", "mqar")
    listener.setblocking(False)
    with pytest.raises(BlockingIOError):
        listener.accept()  # a connection that got through would be waiting here
    listener.close()
    assert failure is not None and failure.stage == "import"
    assert "refused" in failure.message.lower() or "unreachable" in failure.message.lower()


def test_sandbox_runs_in_its_own_directory(tmp_path):
    probe = (
        "import os\nassert os.getcwd() != " + repr(os.getcwd()) + ", 'shares our cwd'\n"
        + VALID_CODE
    )  # fmt: skip
    assert SandboxValidator("tiny", 120).validate(probe, "probe.py", "mqar") is None


def test_a_plan_that_fails_leaves_the_pick_for_a_later_run(fake, implementer, store, tmp_path):
    impl, spy = implementer
    fake.add("plan", *[Reply("no plan today")] * 3)
    store.upsert_papers([PAPERS[0]])
    pick = Pick(arxiv_id=PAPERS[0].arxiv_id, day=DAY, rank=1, score=0.5, gpu_minutes=20)
    first = pipeline.implement_pick(pick, store=store, implementer=impl)
    assert first.status == "not_implemented" and first.reason.startswith("no plan")
    assert first.attempts == [] and spy.sources == []
    again = pipeline.implement_pick(pick, store=store, implementer=impl)  # plan works now
    assert again.status == "implemented" and len(fake.requests_for("plan")) == 4


# -- claims: the plan extracts them in the harness's schema; the code step declares them ----


def test_a_plans_claims_come_through(fake, implementer):
    impl, _ = implementer
    result = impl.implement(PAPERS[0])
    assert result.status == "implemented"
    claims = result.plan.claims
    assert [c.id for c in claims] == ["recall", "throughput"]
    recall, throughput = claims
    assert recall.comparison == "equivalent" and recall.metric == "query_accuracy"
    assert recall.min_kv_pairs == 4 and recall.testable and recall.why_untestable == ""
    assert not throughput.testable and "CUDA kernels" in throughput.why_untestable
    # the plan prompt asks for them, the code prompt carries them and asks for CLAIMS = [...]
    plan_system = fake.requests_for("plan")[0]["messages"][0]["content"]
    assert '"claims": [' in plan_system and '"why_untestable"' in plan_system
    code = fake.requests_for("code")[0]["messages"]
    assert "CLAIMS = [...]" in code[0]["content"] and "ast.literal_eval" in code[0]["content"]
    assert (
        "ABLATIONS = {" in code[0]["content"]
        and 'BASELINE = {"short_conv": 3}' in code[0]["content"]
    )
    assert PLAN["claims"][0]["statement"] in code[1]["content"]
    # stored with the implementation (the report shows them)
    again = type(result).model_validate_json(result.model_dump_json())
    assert again.plan.claims == claims


def test_malformed_plan_claims_are_dropped_or_marked_untestable(fake, implementer):
    impl, _ = implementer
    plan = dict(PLAN)
    plan["claims"] = [
        "not an object",
        {"id": "no statement"},
        {"id": "Fast Train!", "statement": "trains 2x faster", "task": "lm",
         "metric": "train_tokens_per_s", "comparison": "outperforms"},
        {"statement": "better on ImageNet", "task": "imagenet", "metric": "top1",
         "comparison": "better", "testable": True},
        {"id": "dup", "statement": "a", "task": "mqar", "metric": "query_accuracy",
         "comparison": "sideways"},
        {"id": "dup", "statement": "b", "task": "mqar", "metric": "query_accuracy",
         "comparison": "better", "min_kv_pairs": "lots"},
    ]  # fmt: skip
    fake.add("plan", Reply(json.dumps(plan)))
    claims = impl.implement(PAPERS[0]).plan.claims
    assert [c.id for c in claims] == ["fast_train", "better_on_imagenet", "dup"]
    fast, imagenet, dup = claims
    assert fast.comparison == "better" and fast.testable
    assert not imagenet.testable
    assert "task imagenet" in imagenet.why_untestable and "top1" in imagenet.why_untestable
    assert not dup.testable and "neither" in dup.why_untestable  # the first "dup" wins


def test_plan_claims_of_the_image_diffusion_and_optimizer_families(fake, implementer):
    """A task metric names its task; an efficiency figure may leave it out; a task must
    measure the metric; a second reference must be one the task's runs train."""
    impl, _ = implementer
    plan = dict(PLAN)
    plan["claims"] = [
        {"id": "top1", "statement": "+2 points top-1", "metric": "accuracy",
         "comparison": "better"},
        {"id": "fid", "statement": "lower FID", "task": "diffusion", "metric": "denoise_mse",
         "comparison": "better", "against": "in-context"},
        {"id": "memory", "statement": "half of AdamW's state", "metric": "optimizer_state",
         "comparison": "better"},
        {"id": "bytes", "statement": "better bpb", "task": "lm", "metric": "accuracy",
         "comparison": "better"},
        {"id": "cnn", "statement": "as good as a ResNet", "task": "diffusion",
         "metric": "denoise_mse", "comparison": "equivalent", "against": "resnet"},
        {"id": "state", "statement": "smaller state at 4k", "task": "mqar",
         "metric": "state_size", "comparison": "better", "at_seq_len": 4096,
         "against": "baseline"},
    ]  # fmt: skip
    fake.add("plan", Reply(json.dumps(plan)))
    claims = {c.id: c for c in impl.implement(PAPERS[0]).plan.claims}
    top1, fid, memory = claims["top1"], claims["fid"], claims["memory"]
    assert top1.task == "image" and top1.testable
    assert fid.against == "in-context" and fid.testable
    assert memory.task == "" and memory.testable
    assert not claims["bytes"].testable and "lm runs do not measure accuracy" in (
        claims["bytes"].why_untestable
    )
    cnn = claims["cnn"]
    assert not cnn.testable and "no resnet reference" in cnn.why_untestable
    assert claims["state"].at_seq_len == 4096 and claims["state"].against is None


def test_without_a_jail_llm_code_is_not_written_or_run(fake, make_llm, monkeypatch):
    from paperfoundry_trainer import jail

    monkeypatch.setattr(jail, "probe", lambda: "bwrap not found (install bubblewrap)")
    monkeypatch.delenv("PAPERFOUNDRY_ALLOW_UNJAILED", raising=False)
    validator = SandboxValidator("tiny", timeout_seconds=120)
    impl = LLMImplementer(make_llm(), Config(), validator=validator, fetch_text=offline_text)
    result = impl.implement(PAPERS[0])
    assert result.status == "not_implemented"  # a later run, with a jail, may try again
    assert result.reason.startswith("not run: no isolation available")
    assert "bubblewrap" in result.reason
    assert fake.requests == [] and result.attempts == []  # nothing spent, nothing run
