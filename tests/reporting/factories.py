"""A realistic DayReport for the reporting tests, covering every branch of the renderers.

Several ranked papers (one excluded, one with a `<script>` title), a pick with a completed
run (3 seeds x baseline/candidate curves, verdict), a pick that was not implemented, a pick
whose run failed (Failure with traceback, NaN in its curve) and a failed source.
"""

from __future__ import annotations

import math
import random
import sys
from datetime import UTC, date, datetime
from pathlib import Path

LAMBDAS = str(Path(__file__).resolve().parents[2] / "lambdas")
if LAMBDAS not in sys.path:  # tests/conftest.py normally does this already
    sys.path.insert(0, LAMBDAS)

from paperfoundry.models import (  # noqa: E402 - after the sys.path fix-up
    Curve,
    DayReport,
    Failure,
    Implementation,
    Paper,
    Pick,
    PickReport,
    RankedPaper,
    Score,
    ScoreComponent,
    SourceSignals,
    SourceStatus,
    TrainingRun,
    Verdict,
)

DAY = date(2025, 3, 14)
WEIGHTS = {
    "relevance": 0.45,
    "upvotes": 0.20,
    "comments": 0.10,
    "stars": 0.10,
    "code": 0.05,
    "liked": 0.10,
}
XSS_TITLE = '<script>alert("pwned")</script> Attention & "Friends"'

TITLES = [
    "Gated Linear Attention Transformers with Hardware-Efficient Training",
    "Mamba-3: Selective State Spaces with Complex-Valued Recurrences",
    "Scaling Laws for Associative Recall in Small Language Models",
    XSS_TITLE,
    "RoPE Beyond 1M Tokens: Frequency Interpolation Revisited",
    "A Careful Study of QK-Norm and Logit Soft-Capping",
    "KV Cache Compression via Learned Token Merging",
    "Differential Attention for Noise-Robust Retrieval",
    "Hyper-Connections: Learning the Residual Stream Topology",
    "On the Expressivity of Linear RNNs for In-Context Learning",
]


def curve(start: float, floor: float, rate: float, steps: int, seed: int, every: int = 1) -> Curve:
    rng = random.Random(seed)  # noqa: S311 - deterministic test data
    xs = list(range(0, steps, every))
    ys = [floor + (start - floor) * math.exp(-rate * s) + rng.gauss(0, 0.03) for s in xs]
    return Curve(step=xs, loss=ys)


def make_paper(i: int, title: str, **signals) -> Paper:
    arxiv_id = f"2503.{10000 + i:05d}"
    sig = SourceSignals(source="huggingface", **signals) if signals else None
    return Paper(
        arxiv_id=arxiv_id,
        title=title,
        abstract=(
            f"We study {title.lower()}. Our method improves perplexity on language "
            "modelling benchmarks while keeping training throughput. "
            "We release code and checkpoints."
        ),
        authors=["Ada Lovelace", "Alan Turing", "Grace Hopper", "Yann Doe"],
        day=DAY,
        categories=["cs.CR"] if i % 7 == 5 else ["cs.LG", "cs.CL"],
        signals={"huggingface": sig} if sig else {},
    )


def make_score(paper: Paper, values: dict[str, float], excluded: str | None = None) -> Score:
    comps = [
        ScoreComponent(
            name=name,
            value=round(values.get(name, 0.0), 4),
            weight=w,
            contribution=round(values.get(name, 0.0) * w, 4),
            detail=f"{name} raw signal for {paper.arxiv_id}",
        )
        for name, w in WEIGHTS.items()
    ]
    return Score(
        arxiv_id=paper.arxiv_id,
        day=DAY,
        total=round(sum(c.contribution for c in comps), 4),
        components=comps,
        excluded=excluded,
    )


def build_report(n_papers: int = 64) -> DayReport:
    rng = random.Random(7)  # noqa: S311 - deterministic test data
    ranked: list[RankedPaper] = []
    for i in range(n_papers):
        title = TITLES[i] if i < len(TITLES) else f"Auxiliary Paper Number {i} on Efficient Models"
        signals = {}
        if i % 3 == 0:
            signals = {
                "upvotes": 120 - i,
                "comments": 9,
                "github_repo": f"lab{i}/repo-{i}",
                "github_stars": 1500 - i * 20,
            }
        elif i % 3 == 1:
            signals = {"upvotes": 40 - (i % 40)}
        paper = make_paper(i, title, **signals)
        decay = 1.0 - i / (n_papers + 5)
        values = {
            "relevance": min(1.0, 0.95 * decay + rng.uniform(-0.03, 0.03)),
            "upvotes": max(0.0, 0.9 * decay - 0.1),
            "comments": 0.5 * decay if i % 2 == 0 else 0.0,
            "stars": 0.8 * decay if paper.github_repo else 0.0,
            "code": 1.0 if paper.github_repo else 0.0,
            "liked": 0.3 if i in (0, 2) else 0.0,
        }
        excluded = "only in excluded categories: cs.CR" if paper.categories == ["cs.CR"] else None
        ranked.append(RankedPaper(paper=paper, score=make_score(paper, values, excluded)))
    ranked.sort(key=lambda rp: rp.score.total, reverse=True)

    p_done, p_not, p_fail = ranked[0].paper, ranked[1].paper, ranked[2].paper

    curves = {
        "baseline": {str(s): curve(4.2, 2.35, 0.0025, 2400, s) for s in (0, 1, 2)},
        "candidate": {str(s): curve(4.3, 2.27, 0.003, 2400, 100 + s) for s in (0, 1, 2)},
    }
    done = PickReport(
        pick=Pick(
            arxiv_id=p_done.arxiv_id, day=DAY, rank=1, score=ranked[0].score.total, gpu_minutes=20
        ),
        paper=p_done,
        implementation=Implementation(
            arxiv_id=p_done.arxiv_id,
            status="implemented",
            name="GatedLinearAttention",
            task="lm_tiny",
            file_name="gla.py",
            provenance="reference",
            origin="paperfoundry reference library",
            sha256="ab" * 32,
            paper_params=1_300_000,
        ),
        run=TrainingRun(
            run_id=f"pf-{DAY}-{p_done.arxiv_id}-lm_tiny",
            arxiv_id=p_done.arxiv_id,
            day=DAY,
            task="lm_tiny",
            budget="small",
            backend="local",
            status="completed",
            started_at=datetime(2025, 3, 14, 6, 0, tzinfo=UTC),
            finished_at=datetime(2025, 3, 14, 6, 19, 30, tzinfo=UTC),
            wall_seconds=1170.0,
            verdict=Verdict(
                outcome="better",
                metric="val_loss",
                higher_is_better=False,
                candidate_mean=2.2712,
                baseline_mean=2.3498,
                candidate_std=0.0121,
                baseline_std=0.0154,
                effect=-0.0786,
                toy_scale=True,
                summary="Candidate reaches lower validation loss than the matched baseline "
                "on all 3 seeds (toy scale).",
            ),
            curves=curves,
        ),
    )
    not_impl = PickReport(
        pick=Pick(
            arxiv_id=p_not.arxiv_id, day=DAY, rank=2, score=ranked[1].score.total, gpu_minutes=20
        ),
        paper=p_not,
        implementation=Implementation(
            arxiv_id=p_not.arxiv_id,
            status="not_implemented",
            reason="no reference implementation and LLM implementation disabled",
        ),
        run=None,
    )
    failed = PickReport(
        pick=Pick(
            arxiv_id=p_fail.arxiv_id, day=DAY, rank=3, score=ranked[2].score.total, gpu_minutes=20
        ),
        paper=p_fail,
        implementation=Implementation(
            arxiv_id=p_fail.arxiv_id,
            status="implemented",
            name="RecallNet",
            task="mqar",
            provenance="llm",
            origin="gpt-4.1-mini",
        ),
        run=TrainingRun(
            run_id=f"pf-{DAY}-{p_fail.arxiv_id}-mqar",
            arxiv_id=p_fail.arxiv_id,
            day=DAY,
            task="mqar",
            budget="small",
            backend="sagemaker",
            status="failed",
            wall_seconds=95.0,
            failure=Failure(
                stage="train",
                type="RuntimeError",
                message="CUDA out of memory. Tried to allocate 2.00 GiB <oom>",
                traceback='Traceback (most recent call last):\n  File "train.py", line 88\n'
                "RuntimeError: CUDA out of memory",
            ),
            curves={
                "baseline": {"0": Curve(step=[0, 10, 20], loss=[4.1, 3.9, 3.7])},
                "candidate": {"0": Curve(step=[0, 10], loss=[4.2, float("nan")])},
            },
        ),
    )
    return DayReport(
        day=DAY,
        generated_at=datetime(2025, 3, 14, 7, 5, tzinfo=UTC),
        sources=[
            SourceStatus(name="huggingface", ok=True, papers=48),
            SourceStatus(
                name="arxiv",
                ok=False,
                papers=0,
                error="HTTPStatusError: 503 Service Unavailable for export.arxiv.org",
            ),
        ],
        sample=True,
        ranking=ranked,
        picks=[done, not_impl, failed],
        notes=["arXiv listing unavailable; ranking uses Hugging Face daily papers only."],
    )
