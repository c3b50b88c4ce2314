"""Pairwise tournament over the best reviewed papers, scored with Bradley-Terry.

Absolute 1-10 scores drift between calls; "which of these two first?" is a steadier
question. Every pair is judged once, with the side each paper is shown on alternating so
position bias cancels across the tournament. Strengths are fitted with Hunter's MM
algorithm, regularised by one virtual draw against an average opponent so a paper that
won (or lost) everything gets a finite strength.
"""

from __future__ import annotations

import itertools
import math
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict

from ..llm.accounting import SpendCapReached
from ..llm.client import LLMClient, LLMError
from ..llm.untrusted import DATA_RULES, data_block
from ..models import Comparison, Paper, Tournament
from .reviewer import paper_fields

PROMPT_VERSION = "compare-v1"


class CompareReply(BaseModel):
    model_config = ConfigDict(extra="ignore")
    winner: Annotated[Literal["A", "B"], BeforeValidator(lambda v: str(v).strip().upper()[:1])]
    reason: Annotated[str, BeforeValidator(lambda v: " ".join(str(v).split())[:300])] = ""


SYSTEM = f"""You help a machine-learning research group decide which new paper to implement \
and test first ({PROMPT_VERSION}). You get two papers, A and B, and the group's interests. \
Prefer the paper whose idea is more likely to be real and important, that can be implemented \
as a small causal PyTorch sequence model and tested against a transformer baseline in \
minutes, and that fits the interests. Ignore popularity, hype and author fame.

{DATA_RULES}

Reply with one JSON object and nothing else: {{"winner": "A" or "B", "reason": "<one line>"}}"""


def bradley_terry(
    players: list[str], results: list[tuple[str, str]], iterations: int = 200
) -> dict[str, float]:
    """Win probability of each player against an average one (0..1), from (winner, loser)
    pairs. Each player also draws once with a virtual average player (the prior)."""
    if not players:
        return {}
    wins = {p: 0.5 for p in players}  # half a win of the virtual draw
    games: dict[tuple[str, str], int] = {}
    for winner, loser in results:
        wins[winner] += 1
        key = tuple(sorted((winner, loser)))
        games[key] = games.get(key, 0) + 1  # type: ignore[index]
    strength = {p: 1.0 for p in players}
    for _ in range(iterations):
        new = {}
        for p in players:
            denom = 1.0 / (strength[p] + 1.0)  # the virtual game against strength 1
            for (a, b), n in games.items():
                if p in (a, b):
                    other = b if p == a else a
                    denom += n / (strength[p] + strength[other])
            new[p] = wins[p] / denom
        # keep the geometric mean at 1 so "average opponent" stays strength 1
        scale = math.exp(sum(math.log(v) for v in new.values()) / len(new))
        new = {p: v / scale for p, v in new.items()}
        done = max(abs(new[p] - strength[p]) for p in players) < 1e-9
        strength = new
        if done:
            break
    return {p: round(s / (s + 1.0), 4) for p, s in strength.items()}


def run_tournament(
    llm: LLMClient,
    papers: list[Paper],
    interests_text: str,
    *,
    parallel: int = 1,
) -> tuple[Tournament, bool]:
    """Judge every pair once (`parallel` requests at a time); returns the tournament and
    whether the spend cap stopped it (pairs not judged then say so)."""
    tournament = Tournament(
        day=llm.day, model=llm.models["compare"], participants=[p.arxiv_id for p in papers]
    )
    capped = threading.Event()

    def judge(k: int, x: Paper, y: Paper) -> Comparison:
        first, second = (x, y) if k % 2 == 0 else (y, x)
        comparison = Comparison(first=first.arxiv_id, second=second.arxiv_id)
        if capped.is_set():
            comparison.error = "not judged: LLM spend cap reached"
            return comparison
        user = (
            f"The group's interests:\n{interests_text}\n\nPaper A:\n"
            + data_block("paper A", paper_fields(first))
            + "\n\nPaper B:\n"
            + data_block("paper B", paper_fields(second))
        )
        try:
            reply = llm.ask_json("compare", SYSTEM, user, CompareReply)
            comparison.winner = first.arxiv_id if reply.winner == "A" else second.arxiv_id
            comparison.reason = reply.reason
        except SpendCapReached as exc:
            capped.set()
            comparison.error = str(exc)
        except LLMError as exc:
            comparison.error = str(exc)[:300]
        return comparison

    pairs = list(itertools.combinations(papers, 2))
    with ThreadPoolExecutor(max_workers=parallel) as pool:
        futures = [pool.submit(judge, k, x, y) for k, (x, y) in enumerate(pairs)]
        tournament.comparisons = [f.result() for f in futures]  # pair order, not finish order
    results = [
        (c.winner, c.second if c.winner == c.first else c.first)
        for c in tournament.comparisons
        if c.winner is not None
    ]
    tournament.strength = bradley_terry(tournament.participants, results)
    return tournament, capped.is_set()
