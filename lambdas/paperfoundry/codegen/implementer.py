"""The LLM implementer: paper -> plan -> code in the harness contract -> checks -> repair.

Published experience (Paper2Code, PaperBench) says generated research code often does not
run on the first try, so every attempt goes through the static checks and then the
harness's own validation in a sandbox; a failure goes back to the model as the harness's
structured error, up to `implement.max_attempts` attempts. All attempts are kept.

On AWS there is no local sandbox: the code passes the static checks here and is validated
inside the network-isolated training job; a job that fails validation comes back through
`repair` (see `chain.implement`: the repair round after the harness rejected the code).
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
from collections.abc import Callable
from functools import cache
from importlib import resources
from typing import Annotated, Protocol

from pydantic import BaseModel, BeforeValidator, ConfigDict, field_validator

from ..config import Config
from ..llm.accounting import SpendCapReached
from ..llm.client import LLMClient, LLMError
from ..llm.untrusted import DATA_RULES, clean, data_block, failure_block
from ..models import (
    CLAIM_METRICS,
    HARNESS_TASKS,
    Claim,
    Failure,
    Implementation,
    ImplementationAttempt,
    ImplementationPlan,
    Paper,
)
from ..sources.paper_text import PaperTextFlagged, fetch_paper_text
from .codecheck import ENTRY_POINTS, allowed_summary, static_check

# v2: the plan extracts claims; the file declares them. v3: image and diffusion families,
# the optimizer contract (the plan's `contract`), the contract's parts per family.
PROMPT_VERSION = "implement-v3"
# Failure stages the harness reports for faults of the code, not of the infrastructure:
# its validation (an optimizer's steps are stage "train") and the candidate raising during
# training; a job that failed in one of these goes back to repair.
VALIDATION_STAGES = ("static", "import", "build", "budget", "forward", "shape", "finite",
                     "backward", "train")  # fmt: skip
# The second references a claim may be "against" (the harness's claims.BASELINE_OPTIONS).
SECOND_REFERENCES = {"image": ("vit", "resnet"), "diffusion": ("adaln-zero", "in-context")}


class Validator(Protocol):
    """Runs the harness's validation on code in a sandbox; None means it passed."""

    name: str

    def validate(self, source: str, file_name: str, task: str) -> Failure | None: ...


def _lines(limit: int, items: int):
    return BeforeValidator(
        lambda v: (
            [" ".join(str(x).split())[:limit] for x in (v or [])][:items]
            if isinstance(v, list)
            else [" ".join(str(v).split())[:limit]]
        )
    )


CLAIMS_MAX = 6
_COMPARISONS = {  # what a plan may call a claim's comparison -> the harness's word
    "better": "better",
    "better than": "better",
    "outperforms": "better",
    "improves": "better",
    "equivalent": "equivalent",
    "equivalent to": "equivalent",
    "matches": "equivalent",
    "comparable": "equivalent",
    "on par": "equivalent",
}


def _claim(item: object) -> Claim | None:
    """One claim from the plan in the harness's schema (docs/VERDICTS.md), or None.

    What the harness cannot test (another task, a metric it does not measure, a comparison
    that is neither 'better' nor 'equivalent') is kept, marked untestable with the reason.
    """
    if not isinstance(item, dict):
        return None

    def text(key: str, limit: int) -> str:
        value = item.get(key)
        return " ".join(str(value).split())[:limit] if value is not None else ""

    statement = text("statement", 300)
    if not statement:
        return None
    claim_id = re.sub(r"[^a-z0-9]+", "_", (text("id", 40) or statement[:40]).lower()).strip("_")
    task, metric = text("task", 12).lower(), text("metric", 40).lower()
    measured = CLAIM_METRICS.get(metric)
    if not task and measured is not None and len(measured.tasks) == 1:
        task = measured.tasks[0]  # a task metric names its task
    against = text("against", 20).lower() or None
    against = None if against in ("baseline", "none", "null") else against
    comparison = _COMPARISONS.get(text("comparison", 30).lower().strip(" ."))
    testable = item.get("testable") not in (False, "false", "no", 0)
    why = text("why_untestable", 300)
    problems = []
    if task not in (*HARNESS_TASKS, ""):
        problems.append(f"task {task} is not one the harness runs")
    if measured is None:
        problems.append(f"the harness does not measure {metric or 'this metric'}")
    elif task and task not in measured.tasks:
        problems.append(f"{task} runs do not measure {metric}")
    if against is not None and against not in SECOND_REFERENCES.get(task, ()):
        problems.append(f"the {task or 'harness'} runs have no {against} reference")
    if comparison is None:
        problems.append("the claim is neither 'better than' nor 'equivalent to' a baseline")
    if problems and testable:
        testable, why = False, "; ".join(problems)
    min_kv, at_len = item.get("min_kv_pairs"), item.get("at_seq_len")
    return Claim(
        id=claim_id or "claim",
        statement=statement,
        task=task,
        metric=metric,
        comparison=comparison or "better",
        condition=text("condition", 200),
        min_kv_pairs=min_kv if isinstance(min_kv, int) and min_kv > 0 else None,
        at_seq_len=at_len if isinstance(at_len, int) and at_len > 0 else None,
        against=against,
        testable=testable,
        why_untestable="" if testable else (why or "the plan gave no reason"),
    )


def _claims(value: object) -> list[Claim]:
    """The plan's claims; malformed entries are dropped (never fail the whole plan)."""
    claims: list[Claim] = []
    for item in value if isinstance(value, list) else []:
        claim = _claim(item)
        if claim is not None and claim.id not in {c.id for c in claims}:
            claims.append(claim)
        if len(claims) >= CLAIMS_MAX:
            break
    return claims


class PlanReply(BaseModel):
    model_config = ConfigDict(extra="ignore")
    task: str
    contract: str = "model"
    name: Annotated[str, BeforeValidator(lambda v: " ".join(str(v).split())[:60])]
    summary: Annotated[str, BeforeValidator(lambda v: " ".join(str(v).split())[:800])] = ""
    changes: Annotated[list[str], _lines(240, 8)] = []
    simplifications: Annotated[list[str], _lines(240, 8)] = []
    claims: Annotated[list[Claim], BeforeValidator(_claims)] = []

    @field_validator("task")
    @classmethod
    def _known_task(cls, value: str) -> str:
        value = value.strip().lower()
        if value not in HARNESS_TASKS:
            raise ValueError(
                f"task must be one of {', '.join(HARNESS_TASKS)} (an optimizer paper: "
                '"contract": "optimizer" and the task its model is trained on)'
            )
        return value

    @field_validator("contract", mode="before")
    @classmethod
    def _known_contract(cls, value: object) -> str:
        value = str(value or "model").strip().lower().replace("optimiser", "optimizer")
        if value not in ENTRY_POINTS:
            raise ValueError(f"contract must be one of {', '.join(ENTRY_POINTS)}")
        return value


_PART = re.compile(r"^<!-- for: ([a-z ]+) -->$", re.MULTILINE)


@cache
def contract_parts() -> tuple[tuple[frozenset[str], str], ...]:
    """contract.md: the harness README's contract in parts, each with the families it is
    for ("all", a task, or "optimizer")."""
    text = resources.files("paperfoundry.codegen").joinpath("contract.md").read_text()
    pieces = _PART.split(text)[1:]  # what precedes the first marker is a note for people
    tags, bodies = pieces[::2], pieces[1::2]
    return tuple((frozenset(t.split()), b.strip()) for t, b in zip(tags, bodies, strict=True))


def contract(task: str = "mqar", kind: str = "model") -> str:
    """The contract as one file of `task` and `kind` ("model" | "optimizer") needs it: the
    parts for every family and for its own; the other families' examples cost tokens and
    invite the wrong interface."""
    family = "optimizer" if kind == "optimizer" else task
    return "\n\n".join(body for tags, body in contract_parts() if tags & {"all", family})


def _metrics_help() -> str:
    """The claim metrics for the plan prompt: where each is measured, which way is better."""
    lines = []
    for name, m in CLAIM_METRICS.items():
        where = "any task" if m.tasks == HARNESS_TASKS else "/".join(m.tasks)
        better = "higher" if m.higher_is_better else "lower"
        lines.append(f'"{name}" ({where}: {m.means}; {better} is better)')
    return "; ".join(lines)


PLAN_SYSTEM = f"""You plan a small PyTorch re-implementation of a machine-learning paper for \
a test harness ({PROMPT_VERSION}). The harness trains the implementation and a \
parameter-matched baseline from scratch on one task family, with the same data, steps, \
optimiser and learning-rate sweep, and compares them. Task families:
- "mqar": multi-query associative recall; token ids in, next-token logits out (causal); \
baseline: attention. For sequence mixers, attention variants, recurrence, state-space layers.
- "lm": byte-level language modelling, the same interface; baseline: a GPT. For language-model \
architecture, normalisation, positional encoding, mixture of experts.
- "image": small-image classification (8x8 digits; CIFAR-10 on a GPU); images in, class \
logits out; baseline: a ViT or a ResNet. For vision backbones, ViT and convolutional blocks.
- "diffusion": denoising diffusion on those images; a noisy image, its timestep and class \
label in, the predicted noise out; baseline: a DiT with adaLN-Zero blocks. For diffusion \
model architectures.
The file follows one of two contracts: "model" (it builds the paper's model for the task \
family) or "optimizer" (the paper is about an optimizer: the file defines the optimizer, and \
the harness trains the family's baseline model with it and, separately, with AdamW; choose \
the family closest to the paper's own experiments). Budgets are tiny (tens of thousands to \
millions of parameters), so keep the paper's core mechanism and simplify everything else.

{DATA_RULES}

Also extract the paper's central claims (at most 4), each as a comparison with a \
baseline of the same size that the harness can run: "comparison" is "better" (the paper \
claims to beat it) or "equivalent" (to match it, e.g. "matches attention on recall while \
using less memory"); "metric" is one of: {_metrics_help()}. "better" is in the metric's \
direction: for a lower-is-better metric it means lower than the baseline. "task" is the \
family the claim is about (empty for an efficiency figure any run measures). "against" \
names a second reference the claim compares with instead of the baseline: "vit" or \
"resnet" (image), "adaln-zero" or "in-context" (diffusion); null otherwise. Only claims \
the paper makes; quote its numbers in the statement. Mark a claim "testable": false, with \
the reason in one sentence, when this harness cannot test it: it trains tiny models in \
eager PyTorch at one parameter-matched size on these four families only, so speed-ups \
from custom kernels, results at billions of parameters or ImageNet scale, FID, \
downstream benchmarks, long-context evaluations and scaling laws are out of its reach.

Reply with one JSON object and nothing else:
{{"task": "mqar", "lm", "image" or "diffusion", "contract": "model" or "optimizer", \
"name": "<short model or optimizer name>", "summary": "<what the paper's core mechanism \
is, in two or three sentences>", "changes": ["<what differs from the family's baseline \
(an optimizer: from AdamW)>", ...], "simplifications": ["<what is left out or scaled \
down, and why>", ...], "claims": [{{"id": "<short_snake_case>", "statement": "<the claim \
in one sentence>", "task": "<a family, or empty>", "metric": "<one of the metrics \
above>", "comparison": "better" or "equivalent", "condition": "<when it holds, e.g. \
num_kv_pairs >= 8; or empty>", "min_kv_pairs": <int or null>, "against": <a second \
reference or null>, "testable": true or false, "why_untestable": "<why the harness cannot \
test it; empty if testable>"}}, ...]}}"""

CODE_SYSTEM = f"""You write one Python file that implements a paper's core idea for a test \
harness ({PROMPT_VERSION}). Follow this contract exactly; it is the harness's specification.

{{contract}}

Besides `build_model` (an optimizer: `build_optimizer`), declare at module level, as \
literal Python only (strings, numbers, booleans, None, lists, dicts: the harness reads them \
with ast.literal_eval and never runs them):
- `CLAIMS = [...]`: the plan's "claims", copied exactly as given (same keys and values).
- `ABLATIONS = {{"without <component>": {{"<keyword>": <value>}}, ...}}`: one entry per \
component the paper adds to the standard method; `build_model(spec, **kwargs)` (or \
`build_optimizer(params, spec, **kwargs)`) must accept these keywords (defaults = the full \
method) and then build it without that component (a model at the same parameter budget). \
`ABLATIONS = {{}}` when there is none.
- `BASELINE = {{...}}` and `OPTIMIZER = {{...}}` as the contract describes them, when they \
apply: e.g. `BASELINE = {{"short_conv": 3}}` (the kernel size) when a sequence \
architecture has a short causal convolution, so the attention baseline gets the same one.

A strict lint runs before the code does. {allowed_summary()} Never bind a module to a new \
name or pass it around, never use names or attributes that start with `_` (define \
`__init__`/`forward` as usual; call `super().__init__()`), no getattr with computed names. \
Anything that touches files, the network, processes, the environment, dynamic code \
(exec, eval, __import__) or interpreter internals is rejected.

{DATA_RULES}

Reply with the complete file in one ```python code block, and nothing after it."""

_CODE_BLOCK = re.compile(r"```(?:python|py)?[ \t]*\n(?P<code>.*?)```", re.DOTALL)


def extract_code(reply: str) -> str:
    """The longest fenced code block of the reply, or the reply itself if it has none."""
    blocks = [m.group("code") for m in _CODE_BLOCK.finditer(reply)]
    return (max(blocks, key=len) if blocks else reply).strip() + "\n"


def record_rejection(impl: Implementation, failure: Failure) -> Implementation:
    """The harness rejected `impl` after the fact: its last attempt failed with `failure`."""
    impl = impl.model_copy(deep=True)
    if impl.attempts:
        impl.attempts[-1] = impl.attempts[-1].model_copy(update={"ok": False, "failure": failure})
    impl.status, impl.validated = "failed", False
    impl.reason = failed_reason(impl.attempts)
    return impl


def failed_reason(attempts: list[ImplementationAttempt]) -> str:
    last = attempts[-1].failure if attempts else None
    return f"implementation failed after {len(attempts)} attempts" + (
        f" (last: {last.stage} {last.type}: {last.message[:200]})" if last else ""
    )


def file_name_for(arxiv_id: str) -> str:
    return "llm_" + re.sub(r"[^0-9A-Za-z]", "_", arxiv_id) + ".py"


class LLMImplementer:
    def __init__(
        self,
        llm: LLMClient,
        config: Config,
        *,
        validator: Validator | None,
        fetch_text: Callable[[Paper], tuple[str, str]] | None = None,
        tasks: tuple[str, ...] = HARNESS_TASKS,
    ) -> None:
        self.llm = llm
        self.config = config
        self.validator = validator
        self.fetch_text = fetch_text or functools.partial(
            fetch_paper_text, url_template=config.implement.paper_text_url
        )
        self.tasks = tasks

    # -- prompts ---------------------------------------------------------------------------

    def _paper_block(self, paper: Paper, text: str) -> str:
        limit = self.config.implement.max_paper_chars
        return data_block(
            "paper",
            {"arxiv_id": paper.arxiv_id, "title": paper.title, "text": clean(text, limit)},
        )

    def _plan(self, paper: Paper, block: str) -> ImplementationPlan:
        user = f"Task families available today: {', '.join(self.tasks)}.\n\nThe paper:\n{block}"
        reply = self.llm.ask_json("plan", PLAN_SYSTEM, user, PlanReply, arxiv_id=paper.arxiv_id)
        task = reply.task if reply.task in self.tasks else self.tasks[0]
        return ImplementationPlan(task=task, **reply.model_dump(exclude={"task"}))

    def _code_messages(
        self, plan: ImplementationPlan, block: str, last: ImplementationAttempt | None
    ) -> list[dict[str, str]]:
        plan_json = json.dumps(plan.model_dump(), indent=1)
        spec = contract(plan.task, plan.contract)
        entry = ENTRY_POINTS[plan.contract]
        messages = [
            {"role": "system", "content": CODE_SYSTEM.replace("{contract}", spec)},
            {
                "role": "user",
                "content": f"Implement this plan (task {plan.task!r}, contract "
                f"{plan.contract!r}: the file defines `{entry}`):\n{plan_json}\n\n"
                f"The paper:\n{block}",
            },
        ]
        if last is not None and last.failure is not None:
            messages += [
                {"role": "assistant", "content": f"```python\n{last.source_code or ''}```"},
                {
                    "role": "user",
                    # the report comes from running the code: bounded, and data only
                    "content": "The harness rejected this file with this error report:\n"
                    + failure_block(last.failure.model_dump())
                    + "\nFix the cause and reply with the complete corrected file in one "
                    "```python code block.",
                },
            ]
        return messages

    # -- attempts --------------------------------------------------------------------------

    def _check(
        self, source: str, file_name: str, plan: ImplementationPlan
    ) -> tuple[Failure | None, str]:
        failure = static_check(source, file_name, contract=plan.contract)
        if failure is not None:
            return failure, "static checks (code not run)"
        if self.validator is None:
            return None, "static checks; harness validation runs in the training job"
        return self.validator.validate(source, file_name, plan.task), self.validator.name

    def _attempts(
        self,
        paper: Paper,
        impl: Implementation,
        block: str,
        last: ImplementationAttempt | None,
    ) -> Implementation:
        assert impl.plan is not None
        file_name = file_name_for(paper.arxiv_id)
        while len(impl.attempts) < self.config.implement.max_attempts:
            number = len(impl.attempts) + 1
            messages = self._code_messages(impl.plan, block, last)
            try:
                reply = self.llm.ask_text("code", messages, arxiv_id=paper.arxiv_id)
            except LLMError as exc:  # the spend cap is not an LLMError: it ends the loop
                last = ImplementationAttempt(
                    number=number,
                    ok=False,
                    failure=Failure(stage="llm", type=type(exc).__name__, message=str(exc)[:500]),
                )
                impl.attempts.append(last)
                continue
            source = extract_code(reply)
            failure, checked_by = self._check(source, file_name, impl.plan)
            last = ImplementationAttempt(
                number=number,
                ok=failure is None,
                failure=failure,
                sha256=hashlib.sha256(source.encode()).hexdigest(),
                source_code=source,
                checked_by=checked_by,
            )
            impl.attempts.append(last)
            if failure is not None and failure.stage == "isolation":
                # no jail here: the code is fine as far as we know; a later run may try again
                impl.status, impl.reason = "not_implemented", failure.message
                return impl
            if failure is None:
                impl.status, impl.reason = "implemented", None
                impl.source_code, impl.sha256, impl.file_name = source, last.sha256, file_name
                impl.validated = self.validator is not None
                return impl
        impl.status, impl.reason = "failed", failed_reason(impl.attempts)
        return impl

    def _account(self, impl: Implementation, since: int) -> Implementation:
        calls = [c for c in self.llm.calls[since:] if c.arxiv_id == impl.arxiv_id]
        impl.cost_usd = round(impl.cost_usd + sum(c.cost_usd for c in calls), 6)
        impl.tokens += sum(c.prompt_tokens + c.completion_tokens for c in calls)
        return impl

    def _run(
        self, paper: Paper, impl: Implementation, last: ImplementationAttempt | None
    ) -> Implementation:
        since = len(self.llm.calls)
        why_not = getattr(self.validator, "unavailable", None)
        if why_not:  # LLM code could not run here: spend nothing writing it
            impl.status, impl.reason = "not_implemented", why_not
            return impl
        try:
            text, origin = self.fetch_text(paper)
            block = self._paper_block(paper, text)
            if impl.plan is None:
                impl.plan = self._plan(paper, block)
                impl.name, impl.task = impl.plan.name or paper.arxiv_id, impl.plan.task
            impl.origin = f"{self.llm.models['code']} from {origin}"
            impl = self._attempts(paper, impl, block, last)
        except SpendCapReached as exc:
            impl.status, impl.reason = "not_implemented", f"LLM spend cap reached ({exc})"
        except PaperTextFlagged as exc:  # steering in the text: no prompt is built from it
            impl.status, impl.reason = "not_implemented", str(exc)[:500]
        except LLMError as exc:
            # the plan failed (code-step errors are attempts): nothing was tried, so a
            # later run may try again, unlike a pick whose attempts are used up
            impl.status, impl.reason = "not_implemented", f"no plan: {exc}"[:500]
        return self._account(impl, since)

    # -- public ----------------------------------------------------------------------------

    def implement(self, paper: Paper) -> Implementation:
        impl = Implementation(
            arxiv_id=paper.arxiv_id,
            status="not_implemented",
            provenance="llm",
            model=self.llm.models["code"],
            prompt_version=PROMPT_VERSION,
            validated=False,
        )
        return self._run(paper, impl, None)

    def repair(self, paper: Paper, impl: Implementation, failure: Failure) -> Implementation:
        """Another round after the harness rejected `impl` elsewhere (the training job)."""
        impl = record_rejection(impl, failure)
        last = impl.attempts[-1] if impl.attempts else None
        return self._run(paper, impl, last)
