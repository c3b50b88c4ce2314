"""Benchmark: ingest + rank + report of a generated 2,000-paper day, offline.

Papers are generated from the bundled sample day's real abstracts (sentences shuffled
and recombined), with random community signals, so the text statistics are realistic.
Prints wall time per step, the sizes of the ranking context and report.json, and peak
memory (max RSS; the Python heap peak too with --trace-memory, which slows the run about
twofold). --profile N prints the N most expensive functions (cProfile, cumulative).
--repeat N runs the day N times (a fresh store each) and prints each step's median and
range: a shared 2-core machine moves single runs by +-20%.
Goal (issue 15): 10,000 papers in <= 3 s, 20,000 in <= 2x that, on 2 cores.

    .venv/bin/python benchmarks/pipeline.py [--papers 2000] [--repeat 5] [--profile 25]
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import statistics
import tempfile
import time
import tracemalloc
from datetime import date
from pathlib import Path

from paperfoundry import pipeline
from paperfoundry.adapters.local.blobs import FileBlobStore
from paperfoundry.adapters.local.queue import InProcessQueue
from paperfoundry.adapters.local.sqlite_store import SqliteStore
from paperfoundry.config import load_config
from paperfoundry.models import Paper, SourceSignals, SourceStatus
from paperfoundry.sources.sample import load_sample_day


def generate_day(n: int, seed: int) -> tuple[date, list[Paper]]:
    rng = random.Random(seed)
    _, sample = load_sample_day()
    sentences = [s.strip() + "." for p in sample for s in p.abstract.split(".") if len(s) > 30]
    title_words = [w for p in sample for w in p.title.split()]
    day = date(2026, 11, 20)
    papers = []
    for i in range(n):
        signals = {
            "huggingface": SourceSignals(
                source="huggingface",
                upvotes=int(rng.paretovariate(1.2)) - 1,
                comments=rng.choice([0, 0, 0, 1, 2, 5]),
                github_repo=f"org{i}/repo" if rng.random() < 0.4 else None,
                github_stars=int(rng.paretovariate(0.8)) if rng.random() < 0.4 else None,
            )
        }
        papers.append(
            Paper(
                arxiv_id=f"2611.{i:05d}",
                title=" ".join(rng.sample(title_words, 9)),
                abstract=" ".join(rng.sample(sentences, 7)),
                authors=[f"Author {i}"],
                day=day,
                categories=rng.sample(["cs.LG", "cs.CL", "cs.CV", "cs.AI", "stat.ML"], 2),
                signals=signals,
            )
        )
    return day, papers


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--papers", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--trace-memory", action="store_true", help="also report the Python heap peak (slower)"
    )
    parser.add_argument("--profile", type=int, metavar="N", help="print the top N functions")
    parser.add_argument("--workers", type=int, help="scoring processes (default: every core)")
    parser.add_argument("--repeat", type=int, default=1, help="runs; medians are printed")
    args = parser.parse_args()
    if args.profile:
        import cProfile
        import pstats

        profiler = cProfile.Profile()
        profiler.runcall(run, args)
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(args.profile)
        return
    runs, sizes = zip(*(run(args) for _ in range(args.repeat)), strict=True)
    repeats = f", {args.repeat} runs (median, min-max)" if args.repeat > 1 else ""
    print(f"papers: {args.papers}{repeats}")
    for name in runs[0]:
        values = sorted(r[name] for r in runs)
        spread = f"   ({values[0]:.2f}-{values[-1]:.2f})" if len(values) > 1 else ""
        print(f"{name:32s} {statistics.median(values):7.2f} s{spread}")
    print(sizes[-1])


def run(args: argparse.Namespace) -> tuple[dict[str, float], str]:
    """One day end to end: the steps' wall times and a line of sizes and memory."""

    day, papers = generate_day(args.papers, args.seed)
    config = load_config()
    timings: dict[str, float] = {}
    if args.trace_memory:
        tracemalloc.start()
    with tempfile.TemporaryDirectory() as tmp:
        store = SqliteStore(Path(tmp) / "bench.sqlite")
        blobs, queue = FileBlobStore(tmp), InProcessQueue()
        statuses = [SourceStatus(name="huggingface", ok=True, papers=len(papers))]

        t = time.perf_counter()
        pipeline.ingest(day, papers, statuses, store=store, blobs=blobs, queue=queue, config=config)
        timings["ingest (store + IDF context)"] = time.perf_counter() - t

        t = time.perf_counter()
        context = pipeline.load_context(blobs, day)
        ids = [message["arxiv_id"] for message in queue.drain()]
        pipeline.rank_many(day, ids, store=store, context=context, workers=args.workers)
        timings[f"rank ({args.workers or os.cpu_count()} processes)"] = time.perf_counter() - t

        t = time.perf_counter()
        pipeline.select(day, store=store, config=config)
        report = pipeline.build_report(day, store=store)
        uri = pipeline.publish(report, blobs=blobs, notifier=None, prefix="")
        timings["select + report (json + html)"] = time.perf_counter() - t
        html_kb = Path(uri).stat().st_size / 1024
        json_kb = Path(uri).with_name("report.json").stat().st_size / 1024
        context_kb = len(blobs.get(pipeline.context_key(day))) / 1024
        store.close()
    heap_peak = tracemalloc.get_traced_memory()[1] if args.trace_memory else None
    tracemalloc.stop()
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    timings["total"] = sum(timings.values())
    sizes = (
        f"max RSS {rss_mb:.0f} MiB (incl. interpreter); ranking context {context_kb:.0f} KiB, "
        f"report.json {json_kb:.0f} KiB, report.html {html_kb:.0f} KiB"
    )
    if heap_peak is not None:
        sizes += f"; peak Python heap (tracemalloc) {heap_peak / 2**20:.1f} MiB"
    return timings, sizes


if __name__ == "__main__":
    main()
