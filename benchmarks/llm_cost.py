"""What a day of LLM review + implementation costs, from the accounting code itself.

Runs the real steps (ingest, rank, `review_day`, `implement_pick`) on a generated day
with the default configuration, against the local fake OpenAI-compatible server. The
fake reports usage the way the API does: prompt tokens from the actual prompts paperfoundry
builds (characters / 4), completion tokens from the reply plus an assumed number of
reasoning tokens per step (the `--reasoning-*` options; defaults below). Dollars then come
from `llm/accounting.py` with the configured prices, exactly as in a real run.

Assumptions you can change: each implemented pick needs one repair round (two code calls),
the paper markdown the implementer reads is `--paper-chars` long (capped by
`implement.max_paper_chars`), and every pick needs the LLM (none is in the library).

    .venv/bin/python benchmarks/llm_cost.py [--papers 300]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # tests.fakes: the fake server

from paperfoundry import pipeline  # noqa: E402
from paperfoundry.adapters.local.blobs import FileBlobStore  # noqa: E402
from paperfoundry.adapters.local.queue import InProcessQueue  # noqa: E402
from paperfoundry.adapters.local.sqlite_store import SqliteStore  # noqa: E402
from paperfoundry.codegen.implementer import LLMImplementer  # noqa: E402
from paperfoundry.config import load_config  # noqa: E402
from paperfoundry.llm.accounting import usage_summary  # noqa: E402
from paperfoundry.llm.client import Credentials, LLMClient  # noqa: E402
from paperfoundry.models import SourceStatus  # noqa: E402

from benchmarks.pipeline import generate_day  # noqa: E402
from tests.fakes.openai_server import VALID_CODE, FakeOpenAI, code_reply  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--papers", type=int, default=300)
    ap.add_argument("--paper-chars", type=int, default=60_000, help="paper markdown length")
    ap.add_argument("--reasoning-review", type=int, default=800)
    ap.add_argument("--reasoning-compare", type=int, default=400)
    ap.add_argument("--reasoning-plan", type=int, default=2_000)
    ap.add_argument("--reasoning-code", type=int, default=8_000)
    args = ap.parse_args()

    config = load_config()
    day, papers = generate_day(args.papers, seed=0)
    reasoning = {
        "review": args.reasoning_review,
        "compare": args.reasoning_compare,
        "plan": args.reasoning_plan,
        "code": args.reasoning_code,
    }
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp, FakeOpenAI(reasoning_tokens=reasoning) as fake:
        store = SqliteStore(Path(tmp) / "bench.sqlite")
        blobs = FileBlobStore(Path(tmp))
        queue = InProcessQueue()
        statuses = [SourceStatus(name="huggingface", ok=True, papers=len(papers))]
        pipeline.ingest(day, papers, statuses, store=store, blobs=blobs, queue=queue,
                        config=config)  # fmt: skip
        context = pipeline.load_context(blobs, day)
        for message in queue.drain():
            pipeline.rank(day, message["arxiv_id"], store=store, context=context)

        # OpenAI pricing and parameters (reasoning_effort, max_completion_tokens)
        creds = Credentials("openai", "unused", base_url=fake.url)
        llm = LLMClient(config.llm, creds, store, day)
        notes = pipeline.review_day(day, store=store, llm=llm, config=config)
        picks, _ = pipeline.select(day, store=store, config=config)

        filler = " ".join(p.abstract for p in papers)
        text = (filler * (args.paper_chars // max(1, len(filler)) + 1))[: args.paper_chars]
        implementer = LLMImplementer(
            llm, config, validator=None, fetch_text=lambda paper: (text, "benchmark text")
        )
        implemented = []
        for pick in picks:  # one repair round each: a first reply the static check rejects
            fake.add("code", code_reply("import os\n" + VALID_CODE))
            impl = pipeline.implement_pick(pick, store=store, implementer=implementer)
            implemented.append(f"{impl.status} in {len(impl.attempts)} attempts")

        calls = store.llm_calls_for_day(day)
        usage = usage_summary(calls, cap_usd=config.llm.daily_spend_cap_usd, models=llm.models)
        store.close()
    elapsed = time.perf_counter() - started

    s = config.llm
    print(f"{args.papers}-paper day, defaults: {config.review.candidates} candidates x "
          f"{config.review.samples} review samples ({s.review_model}), tournament of "
          f"{config.review.tournament_size} ({s.compare_model}), {len(picks)} picks "
          f"implemented with {s.implement_model} (1 repair each)")  # fmt: skip
    print(f"implementations: {', '.join(implemented)}")
    print(f"assumed reasoning tokens per call: {reasoning}; paper text {args.paper_chars:,} chars")
    print(f"{'step':<8} {'calls':>5} {'prompt tok':>11} {'output tok':>11} {'USD':>9}")
    for step, u in usage.by_step.items():
        print(f"{step:<8} {u.calls:>5} {u.prompt_tokens:>11,} {u.completion_tokens:>11,} "
              f"{u.cost_usd:>9.4f}")  # fmt: skip
    t = usage.total
    print(f"{'total':<8} {t.calls:>5} {t.prompt_tokens:>11,} {t.completion_tokens:>11,} "
          f"{t.cost_usd:>9.4f}")  # fmt: skip
    print(f"daily cap ${usage.cap_usd:.2f}: {'REACHED' if usage.cap_reached else 'not reached'}")
    for note in notes:
        print(f"note: {note}")
    print(f"(benchmark wall time {elapsed:.1f}s against the local fake server)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
