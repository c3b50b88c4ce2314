"""The LLM on AWS: select reviews and implements with the key from Secrets Manager; the
report handler repairs generated code that the training job rejected in validation."""

from __future__ import annotations

import json
from datetime import date

import pytest
from paperfoundry.adapters.aws import secrets
from paperfoundry.adapters.aws.sagemaker import model_artifact_key
from paperfoundry.models import Paper, SourceSignals

from tests.fakes.openai_server import FakeOpenAI, code_reply

from .conftest import BUCKET
from .harness import metrics_json, model_tar_gz, state_change_event

DAY = date(2024, 2, 29)
PAPER = Paper(
    arxiv_id="2501.04321",
    title="Short convolutions for associative recall",
    abstract="A causal short convolution before attention improves recall.",
    day=DAY,
    categories=["cs.LG"],
    signals={"huggingface": SourceSignals(source="huggingface", upvotes=40, comments=3)},
)
SHAPE_FAILURE = {
    "stage": "shape",
    "type": "ShapeError",
    "message": "forward(idx) with idx of shape (2, 16) returned logits of shape (2, 15, 64)",
    "traceback": "",
}


@pytest.fixture
def fake():
    with FakeOpenAI() as server:
        yield server


@pytest.fixture
def llm_env(handler_env, aws, fake):
    """The stack's LLM secret, pointing at the fake server; one paper ranked for DAY."""
    from paperfoundry import pipeline

    secrets.clear_cache()
    secret = {"provider": "compatible", "api_key": "unused", "base_url": fake.url}
    arn = aws.secrets.create_secret(Name="llm", SecretString=json.dumps(secret))["ARN"]
    handler_env.settings.llm_secret_arn = arn
    config = handler_env.config
    config.implement.paper_text_url = fake.origin + "/papers/{arxiv_id}.md"
    rt = handler_env
    rt.store.upsert_papers([PAPER])
    rt.store.set_day_total(DAY, 1)

    class Collect:  # the in-process queue of the local runtime would do; SQS is not needed
        def send(self, messages):
            self.messages = messages

    queue = Collect()
    pipeline.ingest(DAY, [PAPER], [], store=rt.store, blobs=rt.blobs, queue=queue, config=config)
    context = pipeline.load_context(rt.blobs, DAY)
    pipeline.rank(DAY, PAPER.arxiv_id, store=rt.store, context=context)
    yield rt
    secrets.clear_cache()


def _failed_job(aws, job_name: str) -> dict:
    failed = metrics_json(ok=False, impl="llm_2501_04321.py")
    failed["failure"] = SHAPE_FAILURE
    aws.s3.put_object(Bucket=BUCKET, Key=model_artifact_key(job_name), Body=model_tar_gz(failed))
    return state_change_event(job_name, "Failed", failure_reason="AlgorithmError: exit 2")


def _completed_job(aws, job_name: str) -> dict:
    metrics = metrics_json(ok=True, impl="llm_2501_04321.py")
    aws.s3.put_object(Bucket=BUCKET, Key=model_artifact_key(job_name), Body=model_tar_gz(metrics))
    return state_change_event(job_name, "Completed")


def _library(aws) -> set[str]:
    listing = aws.s3.list_objects_v2(Bucket=BUCKET, Prefix="implementations/library/")
    return {o["Key"] for o in listing.get("Contents", [])}


def test_select_reviews_implements_and_report_repairs(llm_env, aws, fake, lambda_context):
    from handlers import report, select

    fake.add("code", code_reply("import torch\n\ndef build_model(spec):\n    return None\n"))
    result = select.handler({"trigger": "manual", "day": DAY.isoformat()}, lambda_context)
    assert result["days"][0]["picks"] == 1
    store = llm_env.store
    review = store.reviews_for_day(DAY)[PAPER.arxiv_id]
    assert len(review.samples) == 3  # the review ran with the key from Secrets Manager
    impl = store.get_implementation(PAPER.arxiv_id)
    assert impl.provenance == "llm" and impl.status == "implemented"
    assert impl.validated is False  # validation happens in the network-isolated job
    assert "training job" in impl.attempts[0].checked_by
    assert _library(aws) == set()  # not in the library before the harness accepted it
    [run] = store.runs_for_day(DAY)
    assert run.status == "running"

    # The job rejects the code in validation: report sends it back for repair.
    out = report.handler(_failed_job(aws, run.job_name), lambda_context)
    assert out["status"] == "repairing"
    assert out["job"] == f"{run.run_id}-a2"
    repaired = store.get_implementation(PAPER.arxiv_id)
    assert [a.ok for a in repaired.attempts] == [False, True]
    assert repaired.attempts[0].failure.type == "ShapeError"
    assert "ShapeError" in fake.requests_for("code")[-1]["messages"][-1]["content"]
    assert aws.drain(aws.digest_queue_url) == []  # the day is not finished yet

    # A duplicate event for the superseded job changes nothing.
    again = report.handler(_failed_job(aws, run.job_name), lambda_context)
    assert again["reason"] == "superseded attempt"

    # The repaired code trains: validated, in the library, and the day is reported.
    done = report.handler(_completed_job(aws, f"{run.run_id}-a2"), lambda_context)
    assert done["status"] == "completed" and done["report"]
    impl = store.get_implementation(PAPER.arxiv_id)
    assert impl.validated and impl.code_uri.endswith("implementations/library/llm_2501_04321.py")
    assert _library(aws) == {
        "implementations/library/llm_2501_04321.py",
        "implementations/library/llm_2501_04321.json",
    }
    [digest] = aws.drain(aws.digest_queue_url)
    assert "2 attempts" in json.loads(digest["Body"])["Message"]


def test_code_rejected_until_attempts_run_out_is_reported_failed(
    llm_env, aws, fake, lambda_context
):
    from handlers import report, select

    llm_env.config.implement.max_attempts = 2
    select.handler({"trigger": "manual", "day": DAY.isoformat()}, lambda_context)
    [run] = llm_env.store.runs_for_day(DAY)
    second = report.handler(_failed_job(aws, run.job_name), lambda_context)
    assert second["status"] == "repairing" and second["job"] == f"{run.run_id}-a2"
    final = report.handler(_failed_job(aws, f"{run.run_id}-a2"), lambda_context)
    assert final["status"] == "failed"
    impl = llm_env.store.get_implementation(PAPER.arxiv_id)
    assert impl.status == "failed" and len(impl.attempts) == 2
    assert impl.reason.startswith("implementation failed after 2 attempts")
    assert all(a.failure.type == "ShapeError" for a in impl.attempts)
    assert _library(aws) == set()
    [digest] = aws.drain(aws.digest_queue_url)
    assert "implementation failed" in json.loads(digest["Body"])["Message"]


def test_broken_llm_secret_degrades_to_signals_only(llm_env, aws, fake, lambda_context):
    from handlers import select

    aws.secrets.put_secret_value(SecretId=llm_env.settings.llm_secret_arn, SecretString="{}")
    secrets.clear_cache()
    select.handler({"trigger": "manual", "day": DAY.isoformat()}, lambda_context)
    assert fake.requests == []
    assert llm_env.store.reviews_for_day(DAY) == {}
    notes = llm_env.store.get_day(DAY)["notes"]
    assert any("LLM unavailable" in n for n in notes)
