"""Ranking quality on real days: do the group's own saved papers come out on top?

The group's saved listing (`--seeds`: 80 architecture papers, titles and abstracts) is the
profile. Its papers are split into `--folds` folds; each fold is held out in turn and hidden
among 263 real days of the Hugging Face Daily Papers API (`--data`, parsed by the project's
own `parse_daily_papers`): a held-out paper that really appeared on a day stays on its day
with its real signals, the others go to a random day and borrow the community signals of a
random paper of that day. The remaining folds are the profile. Reported, mean ± standard
deviation over folds:

- fit, as on an arXiv-only day (no community signals for any paper): recall@k of the
  held-out papers in the pooled ranking of all ~3,750 papers, nDCG of that ranking, and
  top3 (share of held-out papers in their own day's top 3);
- top3 with the day's community signals (the score the pipeline picks by);
- pass: share of held-out papers whose arXiv-only total reaches `selection.min_score`,
  and of all other papers (pool);
- per saved paper that appeared on a real day: its rank on its own day, with signals and
  arXiv-only (profile: the saved papers seen on no real day).

Scorers, side by side: `today` (the scorer before issue 12, as shipped: TF-IDF cosine to
the default topics and keywords with day-local IDF; `today+liked` adds the profile papers
as liked papers, today's only way to use them), `asl`
(the arxiv-sanity-lite recipe: scikit-learn TF-IDF over the whole corpus, the papers to rank
included, and a linear SVM of the profile against every other paper; skipped without
scikit-learn) and `new` (`paperfoundry.ranking`). `new` weighs terms by a background corpus
built from the other `--day-folds` folds of days, never from the day it scores (the bundled
table, `--write-background`, is built from all days).

Usage: python benchmarks/ranking_eval.py [--data F] [--seeds F] [--folds 5] [--k 10 50]
           [--scorers today today+liked asl new]
       python benchmarks/ranking_eval.py --write-profile OUT   (data/profile_architectures.json)
       python benchmarks/ranking_eval.py --write-background OUT   (data/background.json)
"""

from __future__ import annotations

import argparse
import gzip
import json
import math
import random
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "lambdas"))

from paperfoundry.config import Config, ProfilePaper, load_config  # noqa: E402
from paperfoundry.models import Paper, SourceSignals  # noqa: E402
from paperfoundry.ranking import background as bg  # noqa: E402
from paperfoundry.ranking import build_context, relevance, score_paper  # noqa: E402
from paperfoundry.ranking import score as score_module  # noqa: E402
from paperfoundry.ranking.relevance import (  # noqa: E402
    cosine,
    inverse_document_frequency,
    text_of,
    vectorize,
)
from paperfoundry.sources.huggingface import parse_daily_papers  # noqa: E402

DATA = ROOT.parent / "shared/data/hf_daily_papers_dev.jsonl.gz"
SEEDS = ROOT.parent / "shared/seeds/004_0b5fb17e75586c99.txt"
SEEDS_NAME = "seeds/004_0b5fb17e75586c99.txt"


# -- data ---------------------------------------------------------------------------------


def load_days(path: Path) -> list[tuple[date, list[Paper]]]:
    days = []
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        for line in fh:
            record = json.loads(line)
            day = date.fromisoformat(record["date"])
            days.append((day, parse_daily_papers(record["items"], day)))
    return days


def parse_listing(text: str) -> list[tuple[str, str]]:
    """The saved Hugging Face listing: a short header, then blocks of "title line, blank
    line, abstract paragraph". A title is a line followed by a long (abstract) line."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return [
        (line, lines[i + 1])
        for i, line in enumerate(lines[:-1])
        if len(line) < 200 and len(lines[i + 1]) >= 200
    ]


def title_key(title: str) -> str:
    return " ".join("".join(ch if ch.isalnum() else " " for ch in title.lower()).split())


def write_background(data: Path, seeds: Path, out: Path) -> None:
    """The bundled background table: every recorded day, without the saved papers."""
    saved = {title_key(t) for t, _ in parse_listing(seeds.read_text(encoding="utf-8"))}
    texts = [
        text_of(p.title, p.abstract)
        for _, papers in load_days(data)
        for p in papers
        if title_key(p.title) not in saved
    ]
    background = bg.build_background(texts)
    first, last = (json.loads(line)["date"] for line in _first_last_lines(data))
    provenance = (
        f"Document frequencies and mean TF-IDF weights of the terms (unigrams and bigrams of "
        f"ranking.relevance.tokens, in at least {bg.MIN_DF} papers) of {len(texts):,} papers: "
        f"the days {first} to {last} of the Hugging Face Daily Papers API recorded in the "
        "project's shared data set (data/hf_daily_papers_dev.jsonl.gz; see its README), "
        "without the group's saved papers (profile_architectures.json). No paper text is "
        "stored. Built by: python benchmarks/ranking_eval.py --write-background OUT."
    )
    out.write_text(bg.to_json(background, provenance) + "\n", encoding="utf-8")
    print(f"{len(texts)} papers, {len(background.df)} terms -> {out}")


def _first_last_lines(path: Path) -> tuple[str, str]:
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        lines = fh.read().splitlines()
    return lines[0], lines[-1]


def write_profile(seeds: Path, out: Path) -> None:
    papers = [{"title": t, "abstract": a} for t, a in parse_listing(seeds.read_text())]
    doc = {
        "provenance": (
            f"The group's saved Hugging Face papers listing ({SEEDS_NAME} in the project's "
            "shared folder): titles and abstracts exactly as saved (some abstracts carry the "
            "listing's own truncation), parsed by benchmarks/ranking_eval.py --write-profile."
        ),
        "papers": papers,
    }
    out.write_text(json.dumps(doc, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    print(f"{len(papers)} papers -> {out}")


# -- scorers ------------------------------------------------------------------------------

# The scorer before issue 12, as shipped (ranking/score.py at b174a75): its weights,
# saturation and the default topics and keywords.
TODAY_WEIGHTS = {
    "relevance": 0.45,
    "upvotes": 0.20,
    "comments": 0.10,
    "stars": 0.10,
    "code": 0.05,
    "liked": 0.10,
}
TODAY_SATURATION = 0.3
TODAY_MIN_SCORE = 0.2


@dataclass
class Scored:
    total: float  # with the day's community signals
    fit: float  # the total on an arXiv-only day (no HF upvotes, comments, stars or code)


def _log_share(value: int | None, day_max: int) -> float:
    return math.log1p(value) / math.log1p(day_max) if value and day_max > 0 else 0.0


def today_scorer(profile: list[tuple[str, str]], config: Config, liked: bool):
    """The pre-issue-12 scorer: relevance to the default topics and keywords, and (`liked`)
    the profile papers as liked papers (today's only way to use them, had they been in the
    store: the shipped config likes none)."""
    topics = " . ".join(config.interests.topics + config.interests.keywords)
    liked_texts = [text_of(t, a) for t, a in profile] if liked else []

    def score_day(papers: list[Paper], bg_index: int) -> dict[str, Scored]:
        idf = inverse_document_frequency(
            [text_of(p.title, p.abstract) for p in papers] + [topics, *liked_texts]
        )
        default = max(idf.values(), default=1.0)
        prof = vectorize(topics, idf, default)
        # max cosine to the liked papers through an inverted index of the day's terms
        # (the same numbers as cosine() to each, faster)
        day_terms = {t for p in papers for t in relevance.tokens(text_of(p.title, p.abstract))}
        index: dict[str, list[tuple[int, float]]] = {}
        for j, text in enumerate(liked_texts):
            for t, v in vectorize(text, idf, default).items():
                if t in day_terms:
                    index.setdefault(t, []).append((j, v))
        maxima = {
            f: max((getattr(s, f) or 0 for p in papers for s in p.signals.values()), default=0)
            for f in ("upvotes", "comments", "github_stars")
        }
        out = {}
        for p in papers:
            vec = vectorize(text_of(p.title, p.abstract), idf, default)
            dots = [0.0] * len(liked_texts)
            for t, v in vec.items():
                for j, w in index.get(t, ()):
                    dots[j] += v * w
            fit = TODAY_WEIGHTS["relevance"] * min(1.0, cosine(vec, prof) / TODAY_SATURATION)
            fit += TODAY_WEIGHTS["liked"] * min(1.0, max(dots, default=0.0) / TODAY_SATURATION)
            hf = p.signals.get("huggingface") or SourceSignals(source="huggingface")
            total = fit + TODAY_WEIGHTS["code"] * (1.0 if p.github_repo else 0.0)
            total += TODAY_WEIGHTS["upvotes"] * _log_share(hf.upvotes, maxima["upvotes"])
            total += TODAY_WEIGHTS["comments"] * _log_share(hf.comments, maxima["comments"])
            total += TODAY_WEIGHTS["stars"] * _log_share(hf.github_stars, maxima["github_stars"])
            out[p.arxiv_id] = Scored(total=total, fit=fit)
        return out

    return score_day


def new_scorer(profile: list[tuple[str, str]], config: Config, backgrounds: list[bg.Background]):
    config = config.model_copy(deep=True)
    config.interests.profile = ""  # the fold's profile only, never the bundled 80 papers
    config.interests.papers = [ProfilePaper(title=t, abstract=a) for t, a in profile]

    def score_day(papers: list[Paper], bg_index: int) -> dict[str, Scored]:
        background = backgrounds[bg_index]
        ctx = build_context(papers[0].day, papers, config, background=background)
        out = {}
        for p in papers:
            score = score_paper(p, ctx, background=background)
            fit = sum(c.contribution for c in score.components if c.name in ("relevance", "liked"))
            out[p.arxiv_id] = Scored(total=score.total, fit=fit)
        return out

    return score_day


def asl_scorer(profile: list[tuple[str, str]], days: list[list[Paper]], held: list[Paper]):
    """arxiv-sanity-lite (compute.py + serve.py's svm_rank): TF-IDF over the whole corpus
    (the papers to rank included, as its database is),
    LinearSVC(class_weight="balanced", C=0.01) with the profile as positives and every
    other paper as a negative, ranked by the decision function. No signals, no threshold."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.svm import LinearSVC

    papers = [p for day in days for p in day] + held
    # title and abstract only: the saved listing has no authors, and papers without author
    # names among thousands with them would give the held-out ones away
    corpus = [f"{p.title} {p.abstract}" for p in papers]
    corpus += [f"{t} {a}" for t, a in profile]
    vectorizer = TfidfVectorizer(
        strip_accents="unicode",
        lowercase=True,
        analyzer="word",
        stop_words="english",
        token_pattern=r"(?u)\b[a-zA-Z_][a-zA-Z0-9_]+\b",  # noqa: S106 - not a password
        ngram_range=(1, 2),
        max_features=20000,
        norm="l2",
        use_idf=True,
        smooth_idf=True,
        sublinear_tf=True,
        max_df=0.5,
        min_df=5,
    )
    x = vectorizer.fit_transform(corpus)
    y = [0] * len(papers) + [1] * len(profile)
    clf = LinearSVC(class_weight="balanced", max_iter=10000, tol=1e-6, C=0.01).fit(x, y)
    decision = clf.decision_function(x[: len(papers)])
    by_id = {p.arxiv_id: float(s) for p, s in zip(papers, decision, strict=True)}

    def score_day(day_papers: list[Paper], bg_index: int) -> dict[str, Scored]:
        return {
            p.arxiv_id: Scored(total=by_id[p.arxiv_id], fit=by_id[p.arxiv_id]) for p in day_papers
        }

    return score_day


# -- evaluation ---------------------------------------------------------------------------


@dataclass
class Setup:
    days: list[tuple[date, list[Paper]]]  # real days without the saved papers
    saved: list[tuple[str, str]]
    on_day: dict[int, tuple[int, Paper]]  # saved index -> (day index, the real paper)
    backgrounds: list[bg.Background]  # [j]: built from the days with index % n != j
    config: Config


def held_paper(i: int, setup: Setup, rng: random.Random) -> tuple[int, Paper]:
    """Saved paper i as a paper of some day: its real day, or a random one with the
    signals of a random paper of that day."""
    if i in setup.on_day:
        return setup.on_day[i]
    di = rng.randrange(len(setup.days))
    day, papers = setup.days[di]
    donor = rng.choice(papers)
    title, abstract = setup.saved[i]
    return di, Paper(
        arxiv_id=f"9999.{i:05d}", title=title, abstract=abstract, day=day, signals=donor.signals
    )


def ndcg(ranks: list[int]) -> float:
    dcg = sum(1 / math.log2(r + 1) for r in ranks)
    return dcg / sum(1 / math.log2(i + 2) for i in range(len(ranks)))


def run_fold(
    held: list[int], setup: Setup, make: Callable, fold: int, ks: list[int], min_score: float
) -> dict[str, float]:
    rng = random.Random(fold)
    placed: dict[int, list[Paper]] = {}
    held_ids = set()
    for i in held:
        di, paper = held_paper(i, setup, rng)
        placed.setdefault(di, []).append(paper)
        held_ids.add(paper.arxiv_id)
    profile = [setup.saved[i] for i in range(len(setup.saved)) if i not in held]
    score_day = make(profile, [p for ps in placed.values() for p in ps])
    pooled: list[tuple[float, str]] = []
    top3_fit, top3_total, passed, pool_passed = [], [], [], []
    for di, (_, papers) in enumerate(setup.days):
        day_papers = papers + placed.get(di, [])
        scores = score_day(day_papers, di % len(setup.backgrounds))
        pooled += [(scores[p.arxiv_id].fit, p.arxiv_id) for p in day_papers]
        for key, out in (("fit", top3_fit), ("total", top3_total)):
            order = sorted(day_papers, key=lambda p: -getattr(scores[p.arxiv_id], key))
            out += [r < 3 for r, p in enumerate(order) if p.arxiv_id in held_ids]
        for p in day_papers:
            ok = scores[p.arxiv_id].fit >= min_score
            (passed if p.arxiv_id in held_ids else pool_passed).append(ok)
    pooled.sort(key=lambda s: -s[0])
    ranks = [r + 1 for r, (_, pid) in enumerate(pooled) if pid in held_ids]
    metrics = {f"recall@{k}": sum(r <= k for r in ranks) / len(held) for k in ks}
    metrics |= {
        "nDCG": ndcg(ranks),
        "top3": statistics.mean(top3_fit),
        "top3 signals": statistics.mean(top3_total),
        "pass": statistics.mean(passed),
        "pass pool": statistics.mean(pool_passed),
    }
    return metrics


def own_day_ranks(setup: Setup, make: Callable) -> dict[int, tuple[int, int, int, float]]:
    """Each saved paper seen on a real day, on its day: (rank with signals, rank arXiv-only,
    day size, arXiv-only total); the profile is the saved papers seen on no real day."""
    profile = [s for j, s in enumerate(setup.saved) if j not in setup.on_day]
    score_day = make(profile, [paper for _, paper in setup.on_day.values()])
    out = {}
    for i, (di, paper) in sorted(setup.on_day.items()):
        papers = setup.days[di][1] + [paper]
        scores = score_day(papers, di % len(setup.backgrounds))
        ranks = []
        for key in ("total", "fit"):
            order = sorted(papers, key=lambda p: -getattr(scores[p.arxiv_id], key))
            ranks.append(1 + [p.arxiv_id for p in order].index(paper.arxiv_id))
        out[i] = (ranks[0], ranks[1], len(papers), scores[paper.arxiv_id].fit)
    return out


def build_setup(data: Path, seeds: Path, day_folds: int) -> Setup:
    saved = parse_listing(seeds.read_text(encoding="utf-8"))
    keys = {title_key(t): i for i, (t, _) in enumerate(saved)}
    days, on_day = [], {}
    for di, (day, papers) in enumerate(load_days(data)):
        rest = []
        for p in papers:
            if title_key(p.title) in keys:
                on_day[keys[title_key(p.title)]] = (di, p)
            else:
                rest.append(p)
        days.append((day, rest))
    texts = [[text_of(p.title, p.abstract) for p in ps] for _, ps in days]
    backgrounds = [
        bg.build_background(t for di, ts in enumerate(texts) if di % day_folds != j for t in ts)
        for j in range(day_folds)
    ]
    return Setup(
        days=days, saved=saved, on_day=on_day, backgrounds=backgrounds, config=load_config()
    )


def memoise_tokens() -> None:
    """Tokenising is a pure function of the text; the evaluation scores each text many
    times (once per fold), so cache it (the same function, memoised)."""
    cached = lru_cache(maxsize=None)(relevance.tokens)
    for module in (relevance, bg, score_module):
        module.tokens = cached


def evaluate(
    setup: Setup, names: list[str], folds: int, ks: list[int]
) -> tuple[dict[str, dict[str, list[float]]], dict[str, dict], dict[str, float], dict]:
    min_score = setup.config.selection.min_score
    scorers: dict[str, tuple[Callable, float]] = {
        "today": (lambda prof, _: today_scorer(prof, setup.config, False), TODAY_MIN_SCORE),
        "today+liked": (lambda prof, _: today_scorer(prof, setup.config, True), TODAY_MIN_SCORE),
        "new": (lambda prof, _: new_scorer(prof, setup.config, setup.backgrounds), min_score),
    }
    try:
        import sklearn  # noqa: F401

        pool = [ps for _, ps in setup.days]
        scorers["asl"] = (lambda prof, held: asl_scorer(prof, pool, held), -math.inf)
    except ImportError:
        print("asl column skipped: scikit-learn is not installed (pip install scikit-learn)")
    order = list(range(len(setup.saved)))
    random.Random(0).shuffle(order)
    fold_sets = [sorted(order[f::folds]) for f in range(folds)]
    table, own, timing = {}, {}, {}
    for name in [n for n in names if n in scorers]:
        make, floor = scorers[name]
        t0 = time.perf_counter()
        runs = [run_fold(held, setup, make, f, ks, floor) for f, held in enumerate(fold_sets)]
        table[name] = {m: [r[m] for r in runs] for m in runs[0]}
        own[name] = own_day_ranks(setup, make)
        timing[name] = time.perf_counter() - t0
    return table, own, timing, {name: floor for name, (_, floor) in scorers.items()}


def print_tables(setup: Setup, table, own, timing, floors, folds: int) -> None:
    names = list(table)
    n_pool = sum(len(ps) for _, ps in setup.days)
    metrics = list(table[names[0]])
    print(f"\nHeld-out saved papers, mean ± sd over {folds} folds (pool: {n_pool} papers)\n")
    print("| scorer | " + " | ".join(metrics) + " | time |")
    print("|---|" + "---|" * (len(metrics) + 1))
    for name in names:
        cells = [
            "–"
            if floors[name] == -math.inf and m.startswith("pass")
            else f"{statistics.mean(table[name][m]):.2f} ± {statistics.pstdev(table[name][m]):.2f}"
            for m in metrics
        ]
        print(f"| {name} | " + " | ".join(cells) + f" | {timing[name]:.0f}s |")
    print(
        "\nSaved papers on their own real day: rank with the day's signals / rank arXiv-only"
        "\n(profile: the saved papers seen on no real day)\n"
    )
    print("| paper | day | " + " | ".join(names) + " |")
    print("|---|---|" + "---|" * len(names))
    for i, (di, paper) in sorted(setup.on_day.items(), key=lambda kv: kv[1][0]):
        cells = []
        for name in names:
            r_total, r_fit, size, fit = own[name][i]
            mark = "" if floors[name] == -math.inf else (" ✓" if fit >= floors[name] else " ✗")
            cells.append(f"{r_total} / {r_fit} of {size}{mark}")
        title = paper.title if len(paper.title) <= 48 else paper.title[:47] + "…"
        print(f"| {title} | {setup.days[di][0]} | " + " | ".join(cells) + " |")
    print(
        f"\n✓/✗: the arXiv-only total reaches min_score (today {TODAY_MIN_SCORE:g}, "
        f"new {setup.config.selection.min_score:g}, which new places at the fit threshold)"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--seeds", type=Path, default=SEEDS)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--k", type=int, nargs="+", default=[10, 50])
    parser.add_argument("--day-folds", type=int, default=4, help="new: background day folds")
    parser.add_argument("--scorers", nargs="+", default=["today", "today+liked", "asl", "new"])
    parser.add_argument("--write-profile", type=Path, metavar="OUT")
    parser.add_argument("--write-background", type=Path, metavar="OUT")
    args = parser.parse_args(argv)
    if args.write_profile:
        write_profile(args.seeds, args.write_profile)
        return 0
    if args.write_background:
        write_background(args.data, args.seeds, args.write_background)
        return 0
    for path in (args.data, args.seeds):
        if not path.is_file():
            print(f"missing {path}: pass --data/--seeds", file=sys.stderr)
            return 2
    started = time.perf_counter()
    memoise_tokens()
    setup = build_setup(args.data, args.seeds, args.day_folds)
    print(
        f"{len(setup.days)} days, {sum(len(ps) for _, ps in setup.days)} papers; "
        f"{len(setup.saved)} saved papers, {len(setup.on_day)} of them on a real day; "
        f"{args.folds} folds (setup {time.perf_counter() - started:.0f}s)"
    )
    table, own, timing, floors = evaluate(setup, args.scorers, args.folds, args.k)
    print_tables(setup, table, own, timing, floors, args.folds)
    print(f"\ntotal {time.perf_counter() - started:.0f}s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
