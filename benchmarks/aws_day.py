"""Benchmark: a whole AWS day of N papers through the real state machine, on moto.

The definition from `stacks/orchestration.py` runs on moto's Step Functions interpreter
(`tests/aws/sfn.py`); its Lambda tasks call the real step handler, the rank fan-out goes
through the real rank handler in SQS batches of ten, and the sources answer from
generated responses in the providers' formats: Hugging Face Daily Papers (at most 1,000
papers a day, 50 per page) and the arXiv export API by date (Atom, 500 per page) for the
rest. Prints the wall time, the time per state, and the peak memory of the scrape
Lambda (Python heap, tracemalloc) for the biggest unit.

    .venv/bin/python benchmarks/aws_day.py [--papers 3000] [--scrape-only]
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import sys
import time
import tracemalloc
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path
from xml.sax.saxutils import escape

import httpx
import respx

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

HF_MAX = 1000
API_PAGE = 500


def _papers(n: int, seed: int) -> list[tuple[str, str, str]]:
    from paperfoundry.sources.sample import load_sample_day

    rng = random.Random(seed)
    _, sample = load_sample_day()
    sentences = [s.strip() + "." for p in sample for s in p.abstract.split(".") if len(s) > 30]
    words = [w for p in sample for w in p.title.split()]
    return [
        (
            f"2402.{18000 + i:05d}",
            " ".join(rng.sample(words, 9)),
            " ".join(rng.sample(sentences, 7)),
        )
        for i in range(n)
    ]


def _hf_page(items: list[tuple[str, str, str]], published: str) -> list[dict]:
    return [
        {
            "paper": {"id": pid, "authors": [{"name": "A. Author"}], "publishedAt": published,
                      "title": title, "summary": abstract, "upvotes": (i * 7) % 50},
            "publishedAt": published, "title": title, "summary": abstract,
            "numComments": i % 4,
        }
        for i, (pid, title, abstract) in enumerate(items)
    ]  # fmt: skip


def _atom(items: list[tuple[str, str, str]], total: int, start: int) -> bytes:
    entries = "".join(
        f"""<entry><id>http://arxiv.org/abs/{pid}v1</id><updated>2024-02-28T10:00:00Z</updated>
<published>2024-02-28T10:00:00Z</published><title>{escape(title)}</title>
<summary>{escape(abstract)}</summary><author><name>B. Author</name></author>
<arxiv:primary_category xmlns:arxiv="http://arxiv.org/schemas/atom" term="cs.LG"
 scheme="http://arxiv.org/schemas/atom"/><category term="cs.LG"
 scheme="http://arxiv.org/schemas/atom"/></entry>"""
        for pid, title, abstract in items
    )
    os_ns = 'xmlns:opensearch="http://a9.com/-/spec/opensearch/1.1/"'
    return (
        f'<?xml version="1.0" encoding="UTF-8"?><feed xmlns="http://www.w3.org/2005/Atom">'
        f"<id>http://arxiv.org/api/bench</id><updated>2024-03-04T00:00:00-05:00</updated>"
        f"<opensearch:totalResults {os_ns}>{total}</opensearch:totalResults>"
        f"<opensearch:startIndex {os_ns}>{start}</opensearch:startIndex>"
        f"<opensearch:itemsPerPage {os_ns}>{API_PAGE}</opensearch:itemsPerPage>{entries}</feed>"
    ).encode()


def serve(papers: list[tuple[str, str, str]]) -> None:
    from paperfoundry.sources import arxiv
    from paperfoundry.sources.huggingface import API_URL

    hf, rest = papers[:HF_MAX], papers[HF_MAX:]

    def hf_page(request: httpx.Request) -> httpx.Response:
        page, limit = int(request.url.params["p"]), int(request.url.params["limit"])
        chunk = hf[page * limit : (page + 1) * limit]
        return httpx.Response(200, json=_hf_page(chunk, "2024-02-29T01:00:00.000Z"))

    def api_page(request: httpx.Request) -> httpx.Response:
        start = int(request.url.params["start"])
        size = int(request.url.params["max_results"])
        return httpx.Response(200, content=_atom(rest[start : start + size], len(rest), start))

    respx.get(API_URL).mock(side_effect=hf_page)
    respx.get(arxiv.API_URL).mock(side_effect=api_page)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--papers", type=int, default=3000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--scrape-only", action="store_true",
                        help="stop after the scrape (memory at large N)")  # fmt: skip
    args = parser.parse_args()
    os.environ.update(
        AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing",  # noqa: S106 - moto
        AWS_DEFAULT_REGION="us-east-1", POWERTOOLS_TRACE_DISABLED="1",
        POWERTOOLS_METRICS_NAMESPACE="bench", POWERTOOLS_SERVICE_NAME="paperfoundry",
        POWERTOOLS_LOG_LEVEL="ERROR",
    )  # fmt: skip
    import warnings

    warnings.filterwarnings("ignore")
    from moto import mock_aws

    with mock_aws(), respx.mock:
        run(args)


def run(args: argparse.Namespace) -> None:
    import boto3
    from aws.conftest import BUCKET, Aws, FakeLambdaContext, env_for_handlers  # tests/aws
    from aws.day_machine import DAY, GROUP_CONFIG, Day
    from aws.dynamo_table import create_table
    from handlers import _runtime
    from paperfoundry import chain
    from paperfoundry.sources import arxiv

    ddb, s3, sqs, sns = (boto3.client(s) for s in ("dynamodb", "s3", "sqs", "sns"))
    create_table(ddb)
    s3.create_bucket(Bucket=BUCKET)
    queue = sqs.create_queue(QueueName="papers", Attributes={"VisibilityTimeout": "0"})
    topic = sns.create_topic(Name="digest")["TopicArn"]
    digests = sqs.create_queue(QueueName="digests")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=digests, AttributeNames=["QueueArn"])
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn["Attributes"]["QueueArn"])
    aws = Aws(ddb, s3, sqs, sns, None, boto3.client("sagemaker"), None, queue["QueueUrl"],
              "", digests, "", topic)  # fmt: skip
    os.environ.update(env_for_handlers(aws))
    for key in ("MAX_PICKS", "GPU_MINUTES_BUDGET", "ARXIV_CATEGORIES"):
        os.environ.pop(key)
    config = GROUP_CONFIG.replace(
        "ranking_deadline_minutes = 0.02", "ranking_deadline_minutes = 60"
    )
    s3.put_object(Bucket=BUCKET, Key="config/paperfoundry.toml", Body=config.encode())
    _runtime.reset_runtime()
    rt = _runtime.get_runtime()
    arxiv.RATE_LIMITER.wait = lambda *a, **k: None  # generated responses: no 3 s spacing

    papers = _papers(args.papers, args.seed)
    serve(papers)

    if args.scrape_only:
        from handlers import steps

        p = steps.ports(rt, "scrape")
        for unit in chain.plan_scrape(p, DAY)["units"]:
            tracemalloc.start()
            started = time.perf_counter()
            out = chain.scrape(p, DAY, unit, today=datetime.now(UTC).date())
            seconds = time.perf_counter() - started
            peak = tracemalloc.get_traced_memory()[1] / 2**20
            tracemalloc.stop()
            print(f"scrape {unit}: {out['papers']} papers, {seconds:.1f} s, peak {peak:.0f} MiB")
        print(f"max RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")
        return

    day = Day(aws, rt, FakeLambdaContext())
    day.batches_per_poll = 20  # the rank Lambdas' work between two ranking checks
    started = time.perf_counter()
    execution = day.execute(timeout=3600)
    wall = time.perf_counter() - started
    assert execution.status == "SUCCEEDED", execution.failures
    per_state: dict[str, float] = defaultdict(float)
    entered: dict[str, datetime] = {}
    for event in execution.events:
        kind = event["type"]
        if kind.endswith("StateEntered"):
            entered[event["stateEnteredEventDetails"]["name"]] = event["timestamp"]
        elif kind.endswith("StateExited"):
            name = event["stateExitedEventDetails"]["name"]
            if name in entered:
                per_state[name] += (event["timestamp"] - entered.pop(name)).total_seconds()
    digest_count = len(aws.drain(digests))
    print(f"{args.papers} papers: state machine SUCCEEDED in {wall:.1f} s; digests {digest_count};")
    print(f"  papers stored {len(rt.store.papers_for_day(DAY))}, "
          f"scored {len(rt.store.scores_for_day(DAY))}, jobs {len(day.jobs)}")  # fmt: skip
    for name in ("Scrape", "Ingest", "RankingProgress", "Select", "Picks", "Report"):
        print(f"  {name:16s} {per_state.get(name, 0.0):7.1f} s")
    print(f"max RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")


if __name__ == "__main__":
    main()
