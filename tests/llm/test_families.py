"""The implementer for every task family and both contracts, end to end.

For a real paper of each family (title and abridged abstract from arXiv) the fake server
plays the LLM: a plan naming the family and the contract, then the library's reference
file as the code. The implementer must choose the right contract text, its checks and the
jailed validation must accept the file, and the harness must train it through the local
backend the day uses for LLM code (a jailed worker, no credentials), at its shortest: the
tiny budget, 20 steps, one learning rate, two seeds. Wiring, not verdicts.
"""

from __future__ import annotations

import ast
import json
import os
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import pytest
from paperfoundry import pipeline
from paperfoundry.adapters.local.sandbox import SandboxValidator
from paperfoundry.adapters.local.subprocess_trainer import SubprocessTrainer
from paperfoundry.codegen.implementer import LLMImplementer
from paperfoundry.config import Config
from paperfoundry.models import CLAIM_METRICS, Paper, Pick
from paperfoundry_trainer import jail

from tests.fakes.openai_server import PaperScript, Reply, code_reply

from .conftest import DAY
from .test_codegen import offline_text


@dataclass(frozen=True)
class Family:
    task: str
    contract: str
    metric: str  # the metric the harness reports for the task
    lr: str  # the one learning rate the short run sweeps
    library_file: str  # the code the fake "LLM" writes
    paper: Paper
    plan: dict

    @property
    def id(self) -> str:
        return "optimizer" if self.contract == "optimizer" else self.task

    @property
    def code(self) -> str:
        return resources.files("paperfoundry.library").joinpath(self.library_file).read_text()

    def script(self) -> PaperScript:
        """The plan with the claims the reference file declares, so code and plan agree."""
        claims = next(
            ast.literal_eval(node.value)
            for node in ast.parse(self.code).body
            if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "CLAIMS"
        )
        plan = {"task": self.task, "contract": self.contract, **self.plan, "claims": claims}
        return PaperScript(plan=plan, code=self.code)


def paper(arxiv_id: str, title: str, abstract: str) -> Paper:
    return Paper(arxiv_id=arxiv_id, title=title, abstract=" ".join(abstract.split()), day=DAY,
                 categories=["cs.LG"])  # fmt: skip


VITC = paper(
    "2106.14881",
    "Early Convolutions Help Transformers See Better",
    """
    Vision transformer (ViT) models exhibit substandard optimizability. In this work, we
    conjecture that the issue lies with the patchify stem of ViT models, which is
    implemented by a stride-p pxp convolution applied to the input image. We replace the ViT
    stem by a small number of stacked stride-two 3x3 convolutions. Using a convolutional
    stem in ViT dramatically increases optimization stability and also improves peak
    performance (by ~1-2% top-1 accuracy on ImageNet-1k), while maintaining flops and
    runtime.""",
)
DIT = paper(
    "2212.09748",
    "Scalable Diffusion Models with Transformers",
    """
    We explore a new class of diffusion models based on the transformer architecture. We
    train latent diffusion models of images, replacing the commonly-used U-Net backbone with
    a transformer that operates on latent patches. We find that DiTs with higher Gflops
    consistently have lower FID. Our largest DiT-XL/2 models outperform all prior diffusion
    models on the class-conditional ImageNet 512x512 and 256x256 benchmarks, achieving a
    state-of-the-art FID of 2.27 on the latter.""",
)
LION = paper(
    "2302.06675",
    "Symbolic Discovery of Optimization Algorithms",
    """
    We present a method to formulate algorithm discovery as program search, and apply it to
    discover optimization algorithms for deep neural network training. Our method discovers
    a simple and effective optimization algorithm, Lion (EvoLved Sign Momentum). It is more
    memory-efficient than Adam as it only keeps track of the momentum. On image
    classification, Lion boosts the accuracy of ViT by up to 2% on ImageNet. On diffusion
    models, Lion outperforms Adam by achieving a better FID score.""",
)
BASED = paper("2402.18668", "Simple linear attention language models balance the "
              "recall-throughput tradeoff", """
    We identify a key tradeoff between a model's state size and recall ability. We propose
    BASED a simple architecture combining linear and sliding window attention. By varying
    BASED window size and linear attention feature dimension, we can dial the state size and
    traverse the pareto frontier of the recall-memory tradeoff curve.""")  # fmt: skip

FAMILIES = [
    Family("image", "model", "accuracy", "1e-2", "vitc_2106_14881.py", VITC, {
        "name": "ViT_C", "summary": "A ViT whose patchify stem is a stack of 3x3 convolutions.",
        "changes": ["stacked stride-2 3x3 convolutions instead of the patchify stem"],
        "simplifications": ["stem widths grow to the transformer width"]}),
    Family("diffusion", "model", "denoise_mse", "3e-3", "dit_2212_09748.py", DIT, {
        "name": "DiT (adaLN-Zero)", "summary": "A transformer denoiser on patches with "
        "adaLN-Zero conditioning on the timestep and class.",
        "changes": ["adaLN-Zero blocks instead of in-context conditioning"],
        "simplifications": ["pixel space, eps prediction only"]}),
    Family("image", "optimizer", "accuracy", "1e-2", "lion_2302_06675.py", LION, {
        "name": "Lion", "summary": "The sign of an interpolated momentum as the update.",
        "changes": ["sign update, one momentum buffer, instead of AdamW"],
        "simplifications": ["none in the update; small batches"]}),
    Family("mqar", "model", "query_accuracy", "1e-2", "based_2402_18668.py", BASED, {
        "name": "BASED", "summary": "Linear attention with a Taylor feature map plus sliding "
        "window attention.", "changes": ["linear + sliding window attention"],
        "simplifications": ["tiny widths"]}),
]  # fmt: skip
IDS = [f.id for f in FAMILIES]
# Each family's own part of the contract, and what no other family's prompt should carry.
EXAMPLES = {
    "mqar": "Minimal working example",
    "image": "Minimal image example",
    "diffusion": "Minimal diffusion example",
    "optimizer": "Minimal optimizer example",
}


@pytest.fixture
def scripted(fake):
    for family in FAMILIES:
        fake.papers[family.paper.arxiv_id] = family.script()
    return fake


@pytest.mark.parametrize("family", FAMILIES, ids=IDS)
def test_the_plan_chooses_the_family_and_the_code_prompt_carries_its_contract(
    scripted, make_llm, family
):
    """Without a sandbox (AWS): the static checks pass the file for its contract."""
    impl = LLMImplementer(make_llm(), Config(), validator=None, fetch_text=offline_text)
    result = impl.implement(family.paper)
    assert result.status == "implemented", result.reason or result.attempts[-1].failure
    assert result.task == family.task and result.plan.task == family.task
    assert result.plan.contract == family.contract
    assert result.source_code == family.code and not result.validated
    # the plan prompt offers every family; the code prompt carries only this one's contract
    plan_user = scripted.requests_for("plan")[0]["messages"][1]["content"]
    assert "Task families available today: mqar, lm, image, diffusion" in plan_user
    system, user = (m["content"] for m in scripted.requests_for("code")[0]["messages"])
    assert "## The implementation contract" in system
    for kind, heading in EXAMPLES.items():
        assert (heading in system) == (kind == family.id), heading
    entry = "build_optimizer(params, spec)" if family.contract == "optimizer" else "build_model"
    assert f"contract {family.contract!r}: the file defines `{entry}" in user
    # the claims the plan extracted come through in the harness's schema
    declared = family.script().plan["claims"]
    assert [c.id for c in result.plan.claims] == [c["id"].replace("-", "_") for c in declared]
    for claim, raw in zip(result.plan.claims, declared, strict=True):
        assert claim.testable == raw.get("testable", True), claim
        assert claim.against == raw.get("against") and claim.metric == raw["metric"]


class ShortTrainer(SubprocessTrainer):
    """The local backend, with the shortest training the harness allows."""

    def command(self, impl_file, task, budget, out, paper_params=None, isolation="none"):
        lr = next(f.lr for f in FAMILIES if f.task == task)
        command = super().command(impl_file, task, budget, out, paper_params, isolation)
        return [*command, "--steps", "20", "--seeds", "2", "--lrs", lr]


@pytest.fixture
def jailed():
    if jail.probe() is not None:
        if os.environ.get("PAPERFOUNDRY_REQUIRE_JAIL") == "1":
            pytest.fail(f"no jail here: {jail.probe()}")
        pytest.skip(f"LLM-written code runs only in a jail: {jail.probe()}")


# the sequence families' LLM path trains in test_run_llm.py already (a minute each here)
NEW_FAMILIES = [f for f in FAMILIES if f.task in ("image", "diffusion")]


@pytest.mark.slow
@pytest.mark.parametrize("family", NEW_FAMILIES, ids=[f.id for f in NEW_FAMILIES])
def test_each_family_is_written_validated_and_trained(scripted, make_llm, jailed, tmp_path, family):
    validator = SandboxValidator("tiny", timeout_seconds=120)
    impl = LLMImplementer(make_llm(), Config(), validator=validator, fetch_text=offline_text)
    result = impl.implement(family.paper)
    assert result.status == "implemented", result.reason or result.attempts[-1].failure
    assert result.validated and [a.ok for a in result.attempts] == [True]

    pick = Pick(arxiv_id=family.paper.arxiv_id, day=DAY, rank=1, score=0.5, gpu_minutes=20)
    run = pipeline.plan_run(pick, result, budget="tiny", backend="local")
    trainer = ShortTrainer(tmp_path, device="cpu", timeout_minutes=10, echo=lambda line: None)
    run = trainer.submit(run, result)
    assert run.status == "completed", run.error or run.failure
    assert run.task == family.task and run.isolation == "jail" and run.outcome == "smoke"
    # the harness's metric, and its direction, are the ones the plan's claims assume
    assert run.metric.name == family.metric
    assert run.metric.higher_is_better == CLAIM_METRICS[family.metric].higher_is_better
    metrics = json.loads(Path(run.metrics_uri).read_text())
    assert metrics["contract"] == family.contract
    outcomes = {c.id.replace("-", "_"): c.outcome for c in run.claims}  # the plan's ids
    assert set(outcomes) == {c.id for c in result.plan.claims}
    for claim in result.plan.claims:
        # untestable as planned, about another task (one run is one task), or needing more
        # kv pairs than the tiny budget has; the rest measured, but a smoke run states no
        # verdict (or its tiny baseline failed a gate)
        waits = claim.task not in ("", family.task) or claim.min_kv_pairs
        expected = ("untestable",) if not claim.testable or waits else ("inconclusive", "invalid")
        assert outcomes[claim.id] in expected, claim.id


# -- the contract holds the plan and the code to each other ----------------------------------


def test_code_for_the_wrong_contract_is_sent_back_before_running(scripted, make_llm):
    """An optimizer plan answered with a model file: rejected by the static checks with
    what the plan asked for, then repaired."""
    lion = next(f for f in FAMILIES if f.contract == "optimizer")
    vitc = next(f for f in FAMILIES if f.paper is VITC)
    scripted.add("code", code_reply(vitc.code))
    impl = LLMImplementer(make_llm(), Config(), validator=None, fetch_text=offline_text)
    result = impl.implement(lion.paper)
    assert [a.ok for a in result.attempts] == [False, True]
    first = result.attempts[0].failure
    assert first.stage == "static" and first.type == "ContractError"
    assert "the plan's contract is 'optimizer'" in first.message
    assert "build_optimizer(params, spec)" in first.message
    repair = scripted.requests_for("code")[1]["messages"][-1]["content"]
    assert "the plan's contract is 'optimizer'" in repair
    assert result.status == "implemented" and result.source_code == lion.code


def test_a_plan_that_calls_the_optimizer_a_task_is_asked_again(scripted, make_llm):
    lion = next(f for f in FAMILIES if f.contract == "optimizer")
    wrong = {**lion.script().plan, "task": "optimizer"}
    scripted.add("plan", Reply(json.dumps(wrong)))
    impl = LLMImplementer(make_llm(), Config(), validator=None, fetch_text=offline_text)
    result = impl.implement(lion.paper)
    assert result.plan.task == "image" and result.plan.contract == "optimizer"
    again = scripted.requests_for("plan")[1]["messages"][-1]["content"]
    assert "task must be one of mqar, lm, image, diffusion" in again
    assert '"contract": "optimizer"' in again


# -- the claim metrics are the harness's, with its directions ---------------------------------


def test_claim_metrics_are_the_harness_metrics_with_their_tasks():
    from paperfoundry_trainer import claims

    assert set(CLAIM_METRICS) == {*claims.TASK_METRICS, *claims.EFFICIENCY_METRICS}
    for metric, task in claims.TASK_METRICS.items():
        assert CLAIM_METRICS[metric].tasks == (task,), metric


def test_task_metric_directions_are_the_harness_tasks():
    from paperfoundry_trainer.tasks import MQAR, ByteLM
    from paperfoundry_trainer.tasks_diffusion import Diffusion
    from paperfoundry_trainer.tasks_image import ImageClassification

    for task in (MQAR, ByteLM, ImageClassification, Diffusion):
        assert CLAIM_METRICS[task.metric].higher_is_better == task.higher_is_better, task


# where each efficiency figure sits in the harness's efficiency block (length-keyed or not)
EFFICIENCY_KEYS = {
    "train_tokens_per_s": ("train_tokens_per_s", False),
    "infer_tokens_per_s": ("infer_tokens_per_s", True),
    "state_size": ("state_size", True),
    "train_images_per_s": ("train_images_per_s", False),
    "infer_images_per_s": ("infer_images_per_s", False),
    "optimizer_state": ("optimizer_state_floats", False),
}


@pytest.mark.parametrize("metric", list(EFFICIENCY_KEYS))
def test_efficiency_metric_directions_are_how_the_harness_judges_a_claim(metric):
    """A "better" claim whose candidate figure is twice the baseline's: the harness supports
    it exactly when the metric is higher-is-better."""
    from paperfoundry_trainer import claims

    key, by_length = EFFICIENCY_KEYS[metric]
    figure = (lambda v: {"16": v}) if by_length else (lambda v: v)
    claim = {"id": "c", "statement": "", "task": None, "metric": metric, "comparison": "better",
             "condition": "", "testable": True, "why_untestable": ""}  # fmt: skip
    efficiency = {"candidate": {key: figure(2.0)}, "baseline": {key: figure(1.0)}}
    judged = claims.evaluate([claim], task="mqar", setting={"seq_len": 16}, comparison=None,
                             efficiency=efficiency, invalid_reason=None, smoke=False)  # fmt: skip
    higher = CLAIM_METRICS[metric].higher_is_better
    assert judged[0]["outcome"] == ("supported" if higher else "contradicted"), judged[0]
