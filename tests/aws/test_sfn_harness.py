"""The in-process Step Functions harness (`tests/aws/sfn.py`) on small hand-written ASL:
Lambda retry/catch with AWS error names, Map concurrency, a Choice/Wait loop, SageMaker
.sync outcomes, SNS publish seen through an SQS subscriber, timeouts, duplicate names."""

from __future__ import annotations

import json
import threading
import time

import pytest
from botocore.exceptions import ClientError

pytest.importorskip("antlr4", reason="moto's ASL interpreter needs moto[stepfunctions]")

from .sfn import (  # noqa: E402
    SAGEMAKER_API_ERROR,
    SAGEMAKER_JOB_FAILED_ERROR,
    ExecutionTimeout,
    LambdaServiceError,
    _function_name,
    run_execution,
    sfn_harness,
)

DAY_ARN = "arn:aws:lambda:us-east-1:123456789012:function:pf-day"


class TrainingBudgetExceeded(Exception):
    pass


def invoke(function: str = DAY_ARN, payload: dict | None = None, **state) -> dict:
    """A CDK-style `lambda:invoke` task: payload from the input, result = `$.Payload`."""
    return {
        "Type": "Task",
        "Resource": "arn:aws:states:::lambda:invoke",
        "Parameters": {"FunctionName": function, "Payload": payload or {"day.$": "$.day"}},
        "ResultSelector": {"result.$": "$.Payload"},
        **state,
    }


def machine(start: str, **states) -> dict:
    return {"StartAt": start, "States": states}


def flaky(failures: list[BaseException], result: dict):
    calls: list[dict] = []

    def handler(event: dict) -> dict:
        calls.append(event)
        if len(calls) <= len(failures):
            raise failures[len(calls) - 1]
        return result

    handler.calls = calls
    return handler


# -- Lambda: payloads, retries, catches, error names ---------------------------------------


def test_lambda_retries_then_succeeds_without_sleeping():
    handler = flaky([ValueError("flaky"), ValueError("flaky")], {"papers": 3})
    retry = [{"ErrorEquals": ["ValueError"], "IntervalSeconds": 30, "MaxAttempts": 3}]
    started = time.monotonic()
    ex = run_execution(
        machine("Day", Day=invoke(Retry=retry, End=True)),
        {"day": "2024-02-29"},
        lambdas={"pf-day": handler},
    )
    assert time.monotonic() - started < 10  # 30 s + 60 s of retry intervals were not slept
    assert ex.status == "SUCCEEDED"
    assert ex.output == {"result": {"papers": 3}}
    assert handler.calls == [{"day": "2024-02-29"}] * 3
    assert ex.entered == ["Day"] and ex.attempts("Day") == 3
    assert [f["error"] for f in ex.failures] == ["ValueError", "ValueError"]
    cause = json.loads(ex.failures[0]["cause"])
    assert cause["errorType"] == "ValueError" and cause["errorMessage"] == "flaky"
    assert "handler" in "".join(cause["stackTrace"])


@pytest.mark.parametrize("matcher", ["TrainingBudgetExceeded", "States.TaskFailed", "States.ALL"])
def test_catch_routes_a_function_error_to_the_fallback(matcher):
    definition = machine(
        "Day",
        Day=invoke(
            Catch=[{"ErrorEquals": [matcher], "ResultPath": "$.error", "Next": "Fallback"}],
            Next="Done",
        ),
        Done={"Type": "Succeed"},
        Fallback={"Type": "Pass", "Result": "fallback", "ResultPath": "$.note", "End": True},
    )
    handler = flaky([TrainingBudgetExceeded("over budget")], {})
    ex = run_execution(definition, {"day": "d"}, lambdas={"pf-day": handler})
    assert ex.status == "SUCCEEDED"
    assert ex.entered == ["Day", "Fallback"]
    assert ex.output["note"] == "fallback"
    assert ex.output["error"]["Error"] == "TrainingBudgetExceeded"
    assert json.loads(ex.output["error"]["Cause"])["errorMessage"] == "over budget"


def test_an_uncaught_error_fails_the_execution_with_its_name():
    definition = machine(
        "Day",
        Day=invoke(Catch=[{"ErrorEquals": ["KeyError"], "Next": "X"}], End=True),
        X={"Type": "Succeed"},
    )
    ex = run_execution(definition, {"day": "d"}, lambdas={"pf-day": flaky([ValueError("no")], {})})
    assert ex.status == "FAILED"
    assert ex.error == "ValueError" and json.loads(ex.cause)["errorMessage"] == "no"
    assert ex.entered == ["Day"]


def test_lambda_service_errors_and_unknown_functions_use_lambda_error_names():
    retry = [
        {"ErrorEquals": ["ValueError"], "MaxAttempts": 5},
        {"ErrorEquals": ["Lambda.ServiceException"], "MaxAttempts": 2},
    ]
    handler = flaky([LambdaServiceError("ServiceException")], {"ok": True})
    ex = run_execution(
        machine("Day", Day=invoke(Retry=retry, End=True)), {"day": "d"}, lambdas={"pf-day": handler}
    )
    assert ex.status == "SUCCEEDED" and ex.attempts("Day") == 2
    assert ex.failures[0]["error"] == "Lambda.ServiceException"

    ex = run_execution(
        machine("Day", Day=invoke(function="pf-missing", End=True)),
        {"day": "d"},
        lambdas={"pf-day": handler},
    )
    assert ex.status == "FAILED" and ex.error == "Lambda.ResourceNotFoundException"


def test_a_handler_that_raises_base_exception_does_not_hang():
    ex = run_execution(
        machine("Day", Day=invoke(End=True)),
        {"day": "d"},
        lambdas={"pf-day": flaky([SystemExit(3)], {})},
        timeout=10,
    )
    assert ex.status == "FAILED" and ex.error == "SystemExit"


def test_function_arn_resources_and_unserialisable_results():
    definition = machine(
        "Day",
        Day={"Type": "Task", "Resource": DAY_ARN, "Next": "Bad"},
        Bad={"Type": "Task", "Resource": DAY_ARN + ":live", "End": True},
    )
    results = iter([{"day": "d", "papers": 2}, {"not", "json"}])
    ex = run_execution(definition, {"day": "d"}, lambdas={"pf-day": lambda e: next(results)})
    assert ex.entered == ["Day", "Bad"]  # the first result (the payload itself) went on
    assert ex.status == "FAILED" and ex.error == "Runtime.MarshalError"
    assert [f["type"] for f in ex.failures] == ["LambdaFunctionFailed"]


@pytest.mark.parametrize(
    "function",
    [
        "pf-day",
        "pf-day:live",
        DAY_ARN,
        DAY_ARN + ":$LATEST",
        "123456789012:function:pf-day",
    ],
)
def test_function_names_match_by_their_name_part(function):
    assert _function_name(function) == "pf-day"


# -- Map, Choice, Wait ------------------------------------------------------------------------


def test_map_runs_every_item_with_at_most_max_concurrency():
    lock, running, peak, seen = threading.Lock(), [0], [0], []

    def rank(event: dict) -> dict:
        with lock:
            running[0] += 1
            peak[0] = max(peak[0], running[0])
            seen.append(event["paper"])
        time.sleep(0.05)
        with lock:
            running[0] -= 1
        return {"paper": event["paper"], "score": len(event["paper"])}

    definition = machine(
        "RankAll",
        RankAll={
            "Type": "Map",
            "ItemsPath": "$.papers",
            "MaxConcurrency": 2,
            "ItemProcessor": {
                "ProcessorConfig": {"Mode": "INLINE"},
                **machine("Rank", Rank=invoke("pf-rank", {"paper.$": "$"}, End=True)),
            },
            "ResultPath": "$.ranked",
            "End": True,
        },
    )
    papers = ["a", "bb", "ccc", "dddd", "eeeee", "ffffff"]
    ex = run_execution(definition, {"papers": papers}, lambdas={"pf-rank": rank})
    assert ex.status == "SUCCEEDED"
    assert [r["result"]["paper"] for r in ex.output["ranked"]] == papers  # order kept
    assert sorted(seen) == papers and ex.attempts("Rank") == 6
    assert ex.entered.count("Rank") == 6
    assert 1 <= peak[0] <= 2


def test_choice_loop_with_wait_and_counter_runs_in_order_without_sleeping():
    polls = []

    def poll(event: dict) -> dict:
        polls.append(event["count"])
        return {"done": event["count"] >= 3}

    definition = machine(
        "Init",
        Init={"Type": "Pass", "Result": 0, "ResultPath": "$.count", "Next": "Poll"},
        Poll=invoke("pf-poll", {"count.$": "$.count"}, ResultPath="$.poll", Next="Done?"),
        **{
            "Done?": {
                "Type": "Choice",
                "Choices": [
                    {"Variable": "$.poll.result.done", "BooleanEquals": True, "Next": "Ok"}
                ],
                "Default": "Count",
            }
        },
        Count={
            "Type": "Pass",
            "Parameters": {"count.$": "States.MathAdd($.count, 1)"},
            "Next": "Wait",
        },
        Wait={"Type": "Wait", "Seconds": 600, "Next": "Poll"},
        Ok={"Type": "Succeed"},
    )
    started = time.monotonic()
    ex = run_execution(definition, {}, lambdas={"pf-poll": poll})
    assert time.monotonic() - started < 10  # 3 x 600 s of Wait were not slept
    assert ex.status == "SUCCEEDED" and polls == [0, 1, 2, 3]
    loop = ["Poll", "Done?", "Count", "Wait"]
    assert ex.entered == ["Init", *loop * 3, "Poll", "Done?", "Ok"]
    assert ex.exited == ex.entered


def test_wait_scale_keeps_a_scaled_real_wait():
    definition = machine("W", W={"Type": "Wait", "SecondsPath": "$.s", "End": True})
    started = time.monotonic()
    ex = run_execution(definition, {"s": 4}, wait_scale=0.05)
    assert ex.status == "SUCCEEDED" and time.monotonic() - started >= 0.2


# -- timeouts -----------------------------------------------------------------------------


def test_task_timeout_seconds_raises_states_timeout():
    release = threading.Event()

    def stuck(event: dict) -> dict:
        release.wait(10)
        return {}

    definition = machine(
        "Day",
        Day=invoke(
            TimeoutSeconds=1,
            Retry=[{"ErrorEquals": ["States.TaskFailed"], "MaxAttempts": 3}],  # not a timeout
            Catch=[{"ErrorEquals": ["States.Timeout"], "ResultPath": "$.error", "Next": "Late"}],
            End=True,
        ),
        Late={"Type": "Pass", "End": True},
    )
    try:
        ex = run_execution(definition, {"day": "d"}, lambdas={"pf-day": stuck}, timeout=20)
    finally:
        release.set()
    assert ex.status == "SUCCEEDED" and ex.entered == ["Day", "Late"]
    assert ex.attempts("Day") == 1
    assert ex.output["error"]["Error"] == "States.Timeout"
    assert [(f["type"], f["error"]) for f in ex.failures] == [("TaskTimedOut", "States.Timeout")]


def test_state_machine_timeout_seconds_times_the_execution_out():
    release = threading.Event()
    definition = {**machine("Day", Day=invoke(End=True)), "TimeoutSeconds": 1}
    try:
        ex = run_execution(definition, {"day": "d"}, lambdas={"pf-day": lambda e: release.wait(5)})
    finally:
        release.set()
    assert ex.status == "TIMED_OUT"


def test_heartbeat_seconds_is_accepted_on_a_request_response_task():
    definition = machine("Day", Day=invoke(TimeoutSeconds=30, HeartbeatSeconds=10, End=True))
    ex = run_execution(definition, {"day": "d"}, lambdas={"pf-day": lambda e: {"ok": 1}})
    assert ex.status == "SUCCEEDED" and ex.output == {"result": {"ok": 1}}


def test_the_harness_timeout_stops_a_stuck_execution():
    release = threading.Event()
    definition = machine("Day", Day=invoke(End=True))
    with pytest.raises(ExecutionTimeout):  # run_execution enforces its timeout
        run_execution(
            definition, {"day": "d"}, lambdas={"pf-day": lambda e: release.wait(0.5)}, timeout=0.2
        )
    with sfn_harness(lambdas={"pf-day": lambda e: release.wait(10)}) as h:
        arn = h.start(h.create(definition), {"day": "d"}, "stuck")
        try:
            with pytest.raises(ExecutionTimeout) as info:
                h.wait(arn, timeout=0.3)
            assert info.value.execution.entered == ["Day"]
        finally:
            release.set()  # moto aborts a stopped execution once its blocked task returns
        assert h.wait(arn, timeout=10).status == "ABORTED"


# -- SageMaker .sync ------------------------------------------------------------------------

TRAIN = {
    "Type": "Task",
    "Resource": "arn:aws:states:::sagemaker:createTrainingJob.sync",
    "Parameters": {
        "TrainingJobName.$": "$.run_id",
        "RoleArn": "arn:aws:iam::123456789012:role/paperfoundry-sagemaker",
        "AlgorithmSpecification": {"TrainingImage": "trainer:latest", "TrainingInputMode": "File"},
        "HyperParameters": {"task.$": "$.task"},
    },
}


def describe(status: str, **extra) -> dict:
    return {"TrainingJobName": "pf-run", "TrainingJobStatus": status, **extra}


def test_sagemaker_sync_completed_returns_the_description():
    requests = []

    def job(params: dict) -> dict:
        requests.append(params)
        return describe("Completed", ModelArtifacts={"S3ModelArtifacts": "s3://b/model.tar.gz"})

    state = {
        **TRAIN,
        "ResultSelector": {"model.$": "$.ModelArtifacts.S3ModelArtifacts"},
        "End": True,
    }
    ex = run_execution(
        machine("Train", Train=state), {"run_id": "pf-run", "task": "mqar"}, sagemaker=job
    )
    assert ex.status == "SUCCEEDED"
    assert ex.output == {"model": "s3://b/model.tar.gz"}
    assert requests[0]["TrainingJobName"] == "pf-run"
    assert requests[0]["HyperParameters"] == {"task": "mqar"}
    assert "TaskSubmitted" in [e["type"] for e in ex.events]


@pytest.mark.parametrize("status", ["Failed", "Stopped"])
def test_sagemaker_sync_failed_job_is_caught(status):
    state = {
        **TRAIN,
        "Next": "Ok",
        "Catch": [
            {
                "ErrorEquals": ["States.TaskFailed"],
                "ResultPath": "$.error",
                "Next": "TrainingFailed",
            }
        ],
    }
    definition = machine(
        "Train", Train=state, Ok={"Type": "Succeed"}, TrainingFailed={"Type": "Pass", "End": True}
    )
    reason = "AlgorithmError: exit code 1"
    ex = run_execution(
        definition,
        {"run_id": "pf-run", "task": "mqar"},
        sagemaker=lambda p: describe(status, FailureReason=reason),
    )
    assert ex.status == "SUCCEEDED" and ex.entered == ["Train", "TrainingFailed"]
    assert ex.output["error"]["Error"] == SAGEMAKER_JOB_FAILED_ERROR
    cause = json.loads(ex.output["error"]["Cause"])
    assert cause["TrainingJobStatus"] == status and cause["FailureReason"] == reason


def test_sagemaker_api_error_has_the_sagemaker_error_name():
    def rejected(params: dict) -> dict:
        raise RuntimeError("ResourceInUse: Training job pf-run already exists")

    state = {
        **TRAIN,
        "End": True,
        "Retry": [{"ErrorEquals": [SAGEMAKER_API_ERROR], "MaxAttempts": 1}],
    }
    ex = run_execution(
        machine("Train", Train=state), {"run_id": "pf-run", "task": "mqar"}, sagemaker=rejected
    )
    assert ex.status == "FAILED" and ex.error == SAGEMAKER_API_ERROR
    assert "already exists" in ex.cause and ex.attempts("Train") == 2


# -- SNS ------------------------------------------------------------------------------------


def test_sns_publish_reaches_an_sqs_subscriber(aws):
    definition = machine(
        "Notify",
        Notify={
            "Type": "Task",
            "Resource": "arn:aws:states:::sns:publish",
            "Parameters": {
                "TopicArn": aws.topic_arn,
                "Subject": "digest",
                "Message.$": "States.JsonToString($.digest)",
            },
            "End": True,
        },
    )
    ex = run_execution(definition, {"digest": {"day": "2024-02-29", "picks": 2}})
    assert ex.status == "SUCCEEDED" and "MessageId" in ex.output
    [message] = aws.drain(aws.digest_queue_url)
    envelope = json.loads(message["Body"])
    assert envelope["Subject"] == "digest"
    assert json.loads(envelope["Message"]) == {"day": "2024-02-29", "picks": 2}


# -- execution names ------------------------------------------------------------------------


def test_duplicate_execution_names_behave_as_standard_workflows():
    release = threading.Event()
    definition = machine("Day", Day=invoke(End=True))
    with sfn_harness(lambdas={"pf-day": lambda e: release.wait(10) and {"ok": 1}}) as h:
        try:
            arn = h.create(definition)
            first = h.start(arn, {"day": "d"}, "pf-2024-02-29")
            # running, same name and input: the existing execution (idempotent start)
            assert h.start(arn, {"day": "d"}, "pf-2024-02-29") == first
            with pytest.raises(ClientError) as info:  # running, other input
                h.start(arn, {"day": "other"}, "pf-2024-02-29")
            assert info.value.response["Error"]["Code"] == "ExecutionAlreadyExists"
        finally:
            release.set()
        assert h.wait(first, timeout=20).status == "SUCCEEDED"
        with pytest.raises(ClientError) as info:  # closed, same name and input
            h.start(arn, {"day": "d"}, "pf-2024-02-29")
        assert info.value.response["Error"]["Code"] == "ExecutionAlreadyExists"
        assert h.start(arn, {"day": "d"}, "pf-2024-03-01") != first  # a new name runs
