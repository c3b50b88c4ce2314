"""The day's state machine wired for execution on moto (shared by tests/aws/test_day_machine.py
and benchmarks/aws_day.py): the synthesised definition with its placeholders filled, the four
step functions routed to the real step handler, the rank fan-out played from the SQS queue
through the real rank handler, and SageMaker's .sync answered from a callable."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import respx
from paperfoundry.adapters.aws.sagemaker import model_artifact_key
from paperfoundry.sources import arxiv
from paperfoundry.sources.huggingface import API_URL as HF_API_URL

from stacks.functions import SPECS
from stacks.orchestration import definition

from .conftest import BUCKET, ROLE, queue_arn, sqs_event
from .harness import metrics_json, model_tar_gz
from .sfn import sfn_harness

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "sources"
DAY = date(2024, 2, 29)  # a Thursday with recorded HF and arXiv (API by date) responses
BASED = "2402.18668"
FUNCTIONS = {"ScrapeFunction": "Scrape", "DayFunction": "Day", "LlmFunction": "Llm",
             "TrainFunction": "Train"}  # fmt: skip
ARN = "arn:aws:lambda:us-east-1:123456789012:function:pf-{}"
GROUP_CONFIG = """
[interests]
topics = ["efficient sequence models: linear attention, recall, state space models"]
keywords = ["linear attention", "recall", "sliding window attention"]

[selection]
max_picks = 1
min_score = 0.0

[sources]
categories = ["cs.LG"]

[day]
refresh_days = 0
ranking_deadline_minutes = 0.02
max_unranked_share = 0.2
"""


class SandboxTimedout(Exception):
    """What a Lambda killed mid-way looks like to Step Functions (a function error)."""


def asl(topic_arn: str) -> str:
    text = json.dumps(definition())
    for placeholder, name in FUNCTIONS.items():
        text = text.replace("${" + placeholder + "}", ARN.format(name.lower()))
    return text.replace("${DigestTopicArn}", topic_arn).replace("${TrainingRoleArn}", ROLE)


class Day:
    """One moto account wired like the stack, with counters for what must happen once."""

    def __init__(self, aws, rt, lambda_context) -> None:
        self.aws, self.rt, self.ctx = aws, rt, lambda_context
        self.jobs: list[dict[str, Any]] = []
        self.job_outcome: Callable[[dict], dict] = self.completed_job
        self.crash: Callable[[str, dict], None] = lambda step, payload: None
        self.rank_fails: set[str] = set()
        # SQS batches the rank "poller" handles before each ranking check (None: all); the
        # real rank Lambdas work between checks, not inside the check's time limit
        self.batches_per_poll: int | None = None
        self.calls: list[str] = []
        self._lock = threading.Lock()

    # -- the Lambdas ---------------------------------------------------------------------

    def lambdas(self) -> dict[str, Callable[[dict], Any]]:
        from handlers import steps

        def function(name: str) -> Callable[[dict], Any]:
            def invoke(payload: dict) -> Any:
                event = steps.StepEvent.model_validate(payload)
                if event.step not in SPECS[name].steps:
                    raise PermissionError(f"{event.step} in {name}")
                with self._lock:  # one Lambda container at a time: moto is not thread-safe
                    if event.step == "ranking_progress":
                        self.rank_queue()
                    self.calls.append(event.step)
                    out = steps.run_step(self.rt, event, self.ctx)
                    self.crash(event.step, payload)  # killed after its side effects
                    return json.loads(json.dumps(out, default=str))

            return invoke

        return {f"pf-{name.lower()}": function(name) for name in FUNCTIONS.values()}

    def rank_queue(self) -> None:
        """Play the SQS poller of the rank Lambda: receive, invoke, delete what passed."""
        from handlers import rank

        arn = queue_arn(self.aws, self.aws.queue_url)
        batches = 0
        while (self.batches_per_poll is None or batches < self.batches_per_poll) and (
            messages := self.aws.receive(self.aws.queue_url)
        ):
            batches += 1
            # a poisoned paper's message is never handled: after MAX_RECEIVE receives SQS
            # moves it to the DLQ
            keep = [m for m in messages if json.loads(m["Body"])["arxiv_id"] not in self.rank_fails]
            failed = set()
            if keep:
                response = rank.handler(sqs_event(keep, arn), self.ctx)
                failed = {f["itemIdentifier"] for f in response["batchItemFailures"]}
            for message in keep:
                if message["MessageId"] not in failed:
                    self.aws.sqs.delete_message(
                        QueueUrl=self.aws.queue_url, ReceiptHandle=message["ReceiptHandle"]
                    )

    # -- SageMaker -------------------------------------------------------------------------

    def completed_job(self, params: dict) -> dict:
        name = params["TrainingJobName"]
        key = model_artifact_key(name)
        self.aws.s3.put_object(Bucket=BUCKET, Key=key, Body=model_tar_gz(metrics_json()))
        return {"TrainingJobName": name, "TrainingJobStatus": "Completed",
                "TrainingEndTime": time.time()}  # fmt: skip

    def sagemaker(self, params: dict) -> dict:
        with self._lock:
            self.jobs.append(params)
        return self.job_outcome(params)

    # -- runs ------------------------------------------------------------------------------

    def execute(
        self, name: str = DAY.isoformat(), topic_arn: str | None = None, timeout: float = 120
    ):
        with sfn_harness(self.lambdas(), self.sagemaker) as harness:
            arn = harness.create(asl(topic_arn or self.aws.topic_arn))
            started = harness.start(arn, {"day": DAY.isoformat(), "poll_seconds": 0}, name)
            return harness.wait(started, timeout=timeout)

    def digests(self) -> list[dict[str, Any]]:
        return self.aws.drain(self.aws.digest_queue_url)


def serve_sources(*, hf: httpx.Response | None = None, arxiv_api: httpx.Response | None = None):
    respx.get(HF_API_URL).mock(
        return_value=hf or httpx.Response(200, content=(FIXTURES / "hf_day_p0.json").read_bytes())
    )
    api = FIXTURES / "arxiv_api_cs_LG_2024-02-29.atom"
    respx.get(arxiv.API_URL).mock(
        return_value=arxiv_api or httpx.Response(200, content=api.read_bytes())
    )
