"""The LLM steps on AWS, through the step Lambda's `run_step` with the key from Secrets
Manager (pointing at the fake OpenAI server): review and implement store what they paid
for; LLM code the training job rejects in validation goes back to `implement` for repair
while attempts are left."""

from __future__ import annotations

import json
from datetime import date

import pytest
from paperfoundry.adapters.aws import secrets
from paperfoundry.adapters.aws.sagemaker import model_artifact_key
from paperfoundry.models import Paper, SourceSignals, SourceStatus
from paperfoundry.training import run_id_for

from tests.fakes.openai_server import VALID_CODE, FakeOpenAI, code_reply

from .conftest import BUCKET
from .harness import metrics_json, model_tar_gz

DAY = date(2024, 2, 29)
PAPER = Paper(
    arxiv_id="2501.04321",
    title="Short convolutions for associative recall",
    abstract="A causal short convolution before attention improves recall.",
    day=DAY,
    categories=["cs.LG"],
    signals={"huggingface": SourceSignals(source="huggingface", upvotes=40, comments=3)},
)
PID = PAPER.arxiv_id
RUN_ID = run_id_for(DAY, PID, "mqar")
FILE = "llm_2501_04321.py"
SHAPE_FAILURE = {
    "stage": "shape",
    "type": "ShapeError",
    "message": "forward(idx) with idx of shape (2, 16) returned logits of shape (2, 15, 64)",
    "traceback": "",
}


def code(n: int) -> str:
    """A different (valid-looking) file per attempt, so each attempt has its own sha256."""
    return VALID_CODE.replace("(generated)", f"(generated, attempt {n})")


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
    rt.store.save_sources(DAY, [SourceStatus(name="huggingface", ok=True, papers=1)])

    class Collect:  # the rank fan-out is not under test: no SQS needed
        def send(self, messages):
            self.messages = messages

    pipeline.fan_out(DAY, store=rt.store, blobs=rt.blobs, queue=Collect(), config=config)
    context = pipeline.load_context(rt.blobs, DAY)
    pipeline.rank(DAY, PID, store=rt.store, context=context)
    yield rt
    secrets.clear_cache()


def run(rt, step: str, **fields) -> dict:
    """One step as the state machine invokes it; the output must be JSON for the states."""
    from handlers.steps import StepEvent, run_step

    out = run_step(rt, StepEvent(step=step, day=DAY, **fields))
    assert json.loads(json.dumps(out)) == out
    return out


def _job_failed_validation(aws, job_name: str) -> dict:
    """The job rejected the code (harness validation): metrics.json says so, and the .sync
    task fails with the job's description as the error's Cause."""
    failed = metrics_json(ok=False, impl=FILE)
    failed["failure"] = SHAPE_FAILURE
    aws.s3.put_object(Bucket=BUCKET, Key=model_artifact_key(job_name), Body=model_tar_gz(failed))
    described = {
        "TrainingJobName": job_name,
        "TrainingJobStatus": "Failed",
        "FailureReason": "AlgorithmError: exit 2",
    }
    return {"error": {"Error": "States.TaskFailed", "Cause": json.dumps(described)}}


def _job_completed(aws, job_name: str) -> dict:
    metrics = metrics_json(ok=True, impl=FILE)
    aws.s3.put_object(Bucket=BUCKET, Key=model_artifact_key(job_name), Body=model_tar_gz(metrics))
    return {"result": {"TrainingJobName": job_name, "TrainingJobStatus": "Completed"}}


def _library(aws) -> set[str]:
    listing = aws.s3.list_objects_v2(Bucket=BUCKET, Prefix="implementations/library/")
    return {o["Key"] for o in listing.get("Contents", [])}


def _uploaded(aws, job: dict) -> str:
    uri = job["InputDataConfig"][0]["DataSource"]["S3DataSource"]["S3Uri"]
    key = uri.removeprefix(f"s3://{BUCKET}/") + job["HyperParameters"]["impl"]
    return aws.s3.get_object(Bucket=BUCKET, Key=key)["Body"].read().decode()


def test_review_and_implement_store_reviews_and_an_implementation(llm_env, aws, fake):
    store = llm_env.store
    reviewed = run(llm_env, "review")
    assert reviewed["llm"] is True
    assert reviewed["notes"] == ["tournament skipped: fewer than two reviewed candidates"]
    review = store.reviews_for_day(DAY)[PID]
    assert len(review.samples) == 3  # the review ran with the key from Secrets Manager
    assert run(llm_env, "select") == {"picks": [PID]}

    out = run(llm_env, "implement", arxiv_id=PID)
    assert out["implemented"] is True and out["provenance"] == "llm"
    impl = store.get_implementation(PID)
    assert impl.status == "implemented" and impl.file_name == FILE
    assert impl.validated is False  # validation happens in the network-isolated job
    assert "training job" in impl.attempts[0].checked_by
    assert _library(aws) == set()  # not in the library before the harness accepted it
    assert any(c.step == "code" for c in store.llm_calls_for_day(DAY))  # paid, and recorded
    requests = len(fake.requests)
    # a retried step pays for nothing twice: reviews and the implementation are stored
    run(llm_env, "review")
    assert run(llm_env, "implement", arxiv_id=PID)["implemented"] is True
    assert len(fake.requests) == requests

    started = run(llm_env, "start_training", arxiv_id=PID)
    assert started["train"] is True and started["job"]["TrainingJobName"] == RUN_ID
    assert _uploaded(aws, started["job"]) == impl.source_code
    done = run(llm_env, "finish_training", arxiv_id=PID, **_job_completed(aws, RUN_ID))
    assert done["status"] == "completed" and done["repair"] is False
    impl = store.get_implementation(PID)
    assert impl.validated and impl.code_uri.endswith(f"implementations/library/{FILE}")
    assert _library(aws) == {
        f"implementations/library/{FILE}",
        "implementations/library/llm_2501_04321.json",
    }


def test_code_rejected_in_validation_is_repaired_and_trained_again(llm_env, aws, fake):
    store = llm_env.store
    fake.add("code", code_reply(code(1)), code_reply(code(2)))
    run(llm_env, "review")
    run(llm_env, "select")
    run(llm_env, "implement", arxiv_id=PID)
    first = store.get_implementation(PID)
    started = run(llm_env, "start_training", arxiv_id=PID)
    assert _uploaded(aws, started["job"]) == code(1)

    out = run(llm_env, "finish_training", arxiv_id=PID, **_job_failed_validation(aws, RUN_ID))
    assert out["status"] == "failed" and out["repair"] is True
    assert store.get_run(RUN_ID).failure.type == "ShapeError"

    repaired = run(llm_env, "implement", arxiv_id=PID)
    assert repaired["implemented"] is True
    impl = store.get_implementation(PID)
    assert impl.sha256 != first.sha256 and impl.source_code == code(2)
    assert [a.ok for a in impl.attempts] == [False, True]
    assert impl.attempts[0].failure.type == "ShapeError"
    assert "ShapeError" in fake.requests_for("code")[-1]["messages"][-1]["content"]
    # a retried implement step does not repair again
    codes = len(fake.requests_for("code"))
    run(llm_env, "implement", arxiv_id=PID)
    assert len(fake.requests_for("code")) == codes and store.get_implementation(PID) == impl

    again = run(llm_env, "start_training", arxiv_id=PID)
    assert again["job"]["TrainingJobName"] == f"{RUN_ID}-a2"
    assert _uploaded(aws, again["job"]) == code(2)
    run_ = store.get_run(RUN_ID)
    assert (run_.attempt, run_.code_sha256) == (2, impl.sha256)
    done = run(llm_env, "finish_training", arxiv_id=PID, **_job_completed(aws, f"{RUN_ID}-a2"))
    assert done["status"] == "completed" and done["repair"] is False
    assert store.get_implementation(PID).validated
    assert f"implementations/library/{FILE}" in _library(aws)


def test_code_rejected_until_attempts_run_out_is_recorded_failed(llm_env, aws, fake):
    store = llm_env.store
    assert llm_env.config.implement.max_attempts == 3
    fake.add("code", *(code_reply(code(n)) for n in (1, 2, 3)))
    run(llm_env, "review")
    run(llm_env, "select")
    run(llm_env, "implement", arxiv_id=PID)
    hashes = []
    for attempt in (1, 2, 3):
        hashes.append(store.get_implementation(PID).sha256)
        job = run(llm_env, "start_training", arxiv_id=PID)["job"]["TrainingJobName"]
        assert job == (RUN_ID if attempt == 1 else f"{RUN_ID}-a{attempt}")
        out = run(llm_env, "finish_training", arxiv_id=PID, **_job_failed_validation(aws, job))
        assert out["status"] == "failed"
        assert out["repair"] is (attempt < 3)
        if out["repair"]:
            assert run(llm_env, "implement", arxiv_id=PID)["implemented"] is True
            assert len(store.get_implementation(PID).attempts) == attempt + 1
    assert len(set(hashes)) == 3

    impl = store.get_implementation(PID)
    assert impl.status == "failed" and len(impl.attempts) == 3
    assert impl.reason.startswith("implementation failed after 3 attempts")
    assert all(a.failure.type == "ShapeError" for a in impl.attempts)
    assert _library(aws) == set()
    # nothing more is paid for or trained
    codes = len(fake.requests_for("code"))
    assert run(llm_env, "implement", arxiv_id=PID)["implemented"] is False
    assert run(llm_env, "start_training", arxiv_id=PID) == {
        "train": False,
        "reason": "not implemented",
    }
    assert len(fake.requests_for("code")) == codes
    assert store.get_run(RUN_ID).attempt == 3


def test_broken_llm_secret_degrades_to_signals_only(llm_env, aws, fake):
    aws.secrets.put_secret_value(SecretId=llm_env.settings.llm_secret_arn, SecretString="{}")
    secrets.clear_cache()
    out = run(llm_env, "review")
    assert out["llm"] is False
    assert any("LLM unavailable" in n for n in out["notes"])
    notes = llm_env.store.get_day_state(DAY).notes
    assert any("LLM unavailable" in n and "signals-only" in n for n in notes)
    assert fake.requests == []
    assert llm_env.store.reviews_for_day(DAY) == {}
    # on the signals, and nobody can write its code today: the slot is not spent on it
    assert run(llm_env, "select") == {"picks": []}
    notes = llm_env.store.get_day_state(DAY).notes
    assert any("no code without an LLM" in n and PID in n for n in notes)
    assert fake.requests == []
