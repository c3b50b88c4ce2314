"""Execute a real Step Functions definition (ASL, JSONPath) in-process on moto.

moto 5.2.5 ships LocalStack's ASL interpreter (`moto/stepfunctions/parser`; needs moto's
`stepfunctions` extra, i.e. `antlr4-python3-runtime`). Retry/Catch, Map, Choice, Wait, Pass,
Fail, Succeed, TimeoutSeconds and `sns:publish` (on moto's SNS) run as they are. Patched in:

- Lambda (`lambda:invoke` and function-ARN tasks): `lambdas[name](payload)`, `name` being the
  function name part of `FunctionName` (`arn:...:function:pf-day[:alias]`, `pf-day`, ...).
  The return value is the Payload; an exception is a function error as the Python runtime
  reports it (`FunctionError: Unhandled`, payload `{errorMessage, errorType: class name,
  requestId, stackTrace}`), so the state error is the class name; a result that is not JSON
  is `Runtime.MarshalError`. `LambdaServiceError(code)` is a service error `Lambda.<code>`;
  an unknown function `Lambda.ResourceNotFoundException`.
- `sagemaker:createTrainingJob(.sync)`: `sagemaker(parameters)` returns the final
  DescribeTrainingJob dict. Completed: the task result. Failed/Stopped: the task fails with
  `SAGEMAKER_JOB_FAILED_ERROR`, cause = the description as JSON (the .sync convention of
  Batch/ECS/Glue; AWS documents no name for it). An exception from the callable is an API
  error, `SageMaker.AmazonSageMakerException`. (moto alone rejects sagemaker `.sync`.)
- Wait states and Retry intervals sleep `wait_scale` x their seconds (default 0; the order
  of states is kept). TimeoutSeconds (task and state machine) stays real: whole seconds.

Interpreter limits: HeartbeatSeconds is accepted but only acts on callback tasks (never on
`lambda:invoke` or the training callable); StopExecution only flags the interpreter (ABORTED
once a running task returns: Python threads can't be killed, so `wait` raises on timeout).
A duplicate execution name behaves as on AWS (Standard): same name and input while running
returns the running execution, otherwise ExecutionAlreadyExists.
"""

from __future__ import annotations

import contextlib
import copy
import json
import time
import traceback
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any
from unittest import mock

import boto3
from botocore.exceptions import ClientError
from moto import mock_aws
from moto.core.config import default_user_config
from moto.stepfunctions.parser.api import HistoryEventType, TaskFailedEventDetails
from moto.stepfunctions.parser.asl.component.common.error_name import failure_event as fe
from moto.stepfunctions.parser.asl.component.common.error_name.error_name import ErrorName
from moto.stepfunctions.parser.asl.component.common.retry import retrier_decl
from moto.stepfunctions.parser.asl.component.state.exec.state_task import (
    lambda_eval_utils,
    state_task_factory,
)
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import (
    state_task_service_unsupported as unsupported,
)
from moto.stepfunctions.parser.asl.component.state.wait.wait_function import wait_function
from moto.stepfunctions.parser.asl.eval.event.event_detail import EventDetails

ROLE_ARN = "arn:aws:iam::123456789012:role/paperfoundry-states"
SAGEMAKER_JOB_FAILED_ERROR = "States.TaskFailed"
SAGEMAKER_API_ERROR = "SageMaker.AmazonSageMakerException"
_FAILURES = {"TaskFailed", "LambdaFunctionFailed", "TaskTimedOut", "LambdaFunctionTimedOut"}
_SCHEDULED = {"TaskScheduled", "LambdaFunctionScheduled"}
Lambdas = Mapping[str, Callable[[Any], Any]]  # function name -> handler(payload)
Job = Callable[[dict], dict]  # CreateTrainingJob parameters -> final DescribeTrainingJob


class LambdaServiceError(Exception):
    """Raise from a Lambda callable for a Lambda *service* error, `Lambda.<code>`."""

    def __init__(self, code: str = "ServiceException", message: str = "", status: int = 500):
        super().__init__(message or f"Lambda {code}")
        self.code, self.status = code, status


class ExecutionTimeout(TimeoutError):
    """Running at the harness timeout, so stopped (ABORTED once a blocked task returns)."""

    def __init__(self, execution: Execution) -> None:
        super().__init__(f"execution still running; states entered: {execution.entered}")
        self.execution = execution


@dataclass
class Execution:
    arn: str
    status: str  # SUCCEEDED | FAILED | TIMED_OUT | ABORTED (RUNNING only in ExecutionTimeout)
    output: Any
    error: str | None
    cause: str | None
    events: list[dict[str, Any]] = field(repr=False)  # GetExecutionHistory, oldest first

    def _names(self, suffix: str) -> list[str]:
        return [e[_details_key(e)]["name"] for e in self.events if e["type"].endswith(suffix)]

    @property
    def entered(self) -> list[str]:
        """State names entered, in order (Map iterations interleave)."""
        return self._names("StateEntered")

    @property
    def exited(self) -> list[str]:
        return self._names("StateExited")

    def state_of(self, event: dict[str, Any]) -> str | None:
        """The state an event belongs to: follow previousEventId to its *StateEntered."""
        by_id = {e["id"]: e for e in self.events}
        while event is not None and not event["type"].endswith("StateEntered"):
            event = by_id.get(event.get("previousEventId"))
        return None if event is None else event["stateEnteredEventDetails"]["name"]

    def attempts(self, state: str) -> int:
        """Times the state's task was scheduled (1 + retries, summed over its entries)."""
        return sum(e["type"] in _SCHEDULED and self.state_of(e) == state for e in self.events)

    @property
    def failures(self) -> list[dict[str, Any]]:
        """Task failures and timeouts in order: {state, type, error, cause, ...}."""
        return [
            {"state": self.state_of(e), "type": e["type"], **e.get(_details_key(e), {})}
            for e in self.events
            if e["type"] in _FAILURES
        ]


def _details_key(event: dict[str, Any]) -> str:
    return next((k for k in event if k.endswith("EventDetails")), "")


def _function_name(function: str) -> str:
    if ":function:" in function:  # full or partial ARN, maybe with a qualifier
        return function.split(":function:", 1)[1].split(":")[0]
    return function.split(":")[0]


def _router(lambdas: Lambdas) -> Callable[..., dict]:
    """Replaces the interpreter's boto3 `lambda.invoke` (moto's Lambda would need Docker)."""

    def invoke(parameters: dict, region: str, state_credentials: Any) -> dict:
        function = parameters["FunctionName"]
        fn = lambdas.get(_function_name(function)) or lambdas.get(function)
        if fn is None:
            msg = f"Function not found: {function}"
            raise _client_error("ResourceNotFoundException", msg, 404)
        try:
            result = fn(json.loads(parameters.get("Payload") or b"{}"))
        except LambdaServiceError as exc:
            raise _client_error(exc.code, str(exc), exc.status) from exc
        except BaseException as exc:  # noqa: BLE001 - all a handler raises is a function error
            return _function_error(exc, type(exc).__name__)
        try:
            payload = json.loads(json.dumps(result))  # as the runtime serialises it
        except (TypeError, ValueError) as exc:
            return _function_error(exc, "Runtime.MarshalError")
        return {"StatusCode": 200, "ExecutedVersion": "$LATEST", "Payload": payload}

    return invoke


def _function_error(exc: BaseException, error_type: str) -> dict:
    payload = {
        "errorMessage": str(exc),
        "errorType": error_type,
        "requestId": str(uuid.uuid4()),
        "stackTrace": traceback.format_tb(exc.__traceback__.tb_next),  # the handler's frames
    }
    return {"StatusCode": 200, "FunctionError": "Unhandled", "Payload": payload}


def _client_error(code: str, message: str, status: int) -> ClientError:
    meta = {"HTTPStatusCode": status, "RequestId": str(uuid.uuid4())}
    return ClientError({"Error": {"Code": code, "Message": message}, "ResponseMetadata": meta}, "")


class _ErrorName(ErrorName):
    """Any error name (CustomErrorName refuses `States.*`); matched by name, as on AWS."""


class _SageMakerService(unsupported.StateTaskServiceUnsupported):
    """createTrainingJob(.sync) answered by a callable; other sagemaker actions as in moto."""

    def __init__(self, job: Job | None) -> None:
        super().__init__()
        self._supported_integration_patterns = {"sync", "waitForTaskToken"}
        self._job = job

    def _training(self) -> bool:
        return self.resource.api_action.lower() == "createtrainingjob"

    def _validate_service_integration_is_supported(self):  # no "unsupported" warning
        if not self._training():
            super()._validate_service_integration_is_supported()

    def _eval_service_task(self, env, **kw):  # the interpreter passes keyword arguments
        if not self._training():
            return super()._eval_service_task(env, **kw)
        if self._job is None:
            raise RuntimeError("createTrainingJob: no sagemaker callable given to the harness")
        parameters, part = kw["normalised_parameters"], kw["resource_runtime_part"]
        try:
            describe = self._job(copy.deepcopy(parameters))
        except Exception as exc:
            code = getattr(exc, "response", {}).get("Error", {}).get("Code", type(exc).__name__)
            cause = f"{exc} (Service: AmazonSageMaker; Status Code: 400; Error Code: {code})"
            raise self._failure(env, SAGEMAKER_API_ERROR, cause) from exc
        env.pf_training_job = json.loads(json.dumps(describe, default=str))
        name = parameters.get("TrainingJobName", "").lower()
        arn = f"arn:aws:sagemaker:{part.region}:{part.account}:training-job/{name}"
        env.stack.append({"TrainingJobArn": arn})  # the CreateTrainingJob response

    def _build_sync_resolver(self, env, **kw):
        if not self._training():
            return super()._build_sync_resolver(env, **kw)
        describe = env.pf_training_job
        if describe.get("TrainingJobStatus") != "Completed":
            raise self._failure(env, SAGEMAKER_JOB_FAILED_ERROR, json.dumps(describe))
        return lambda: describe

    def _failure(self, env, error: str, cause: str) -> fe.FailureEventException:
        details = TaskFailedEventDetails(
            error=error,
            cause=cause,
            resource=self._get_sfn_resource(),
            resourceType=self._get_sfn_resource_type(),
        )
        event = fe.FailureEvent(
            env=env,
            error_name=_ErrorName(error),
            event_type=HistoryEventType.TaskFailed,
            event_details=EventDetails(taskFailedEventDetails=details),
        )
        return fe.FailureEventException(event)


class Harness:
    """Create state machines and run executions while the patches are active."""

    def __init__(self, region: str = "us-east-1") -> None:
        self.client = boto3.client("stepfunctions", region_name=region)

    def create(self, definition: dict | str, name: str = "", role_arn: str = ROLE_ARN) -> str:
        """A new state machine (a fresh name unless given); returns its ARN."""
        text = definition if isinstance(definition, str) else json.dumps(definition)
        name = name or f"pf-test-{uuid.uuid4().hex[:12]}"
        response = self.client.create_state_machine(name=name, definition=text, roleArn=role_arn)
        return response["stateMachineArn"]

    def start(self, state_machine_arn: str, input: Any, name: str) -> str:
        return self.client.start_execution(
            stateMachineArn=state_machine_arn, name=name, input=json.dumps(input)
        )["executionArn"]

    def wait(self, execution_arn: str, timeout: float = 60) -> Execution:
        """Poll until the execution closes; past `timeout`, stop it and raise."""
        deadline = time.monotonic() + timeout
        while self.client.describe_execution(executionArn=execution_arn)["status"] == "RUNNING":
            if time.monotonic() > deadline:
                self.client.stop_execution(executionArn=execution_arn, error="HarnessTimeout")
                raise ExecutionTimeout(self.describe(execution_arn))
            time.sleep(0.01)
        return self.describe(execution_arn)

    def describe(self, execution_arn: str) -> Execution:
        d = self.client.describe_execution(executionArn=execution_arn)
        pages = self.client.get_paginator("get_execution_history")
        events = [e for page in pages.paginate(executionArn=execution_arn) for e in page["events"]]
        output = json.loads(d["output"]) if d.get("output") else None
        return Execution(execution_arn, d["status"], output, d.get("error"), d.get("cause"), events)


@contextlib.contextmanager
def sfn_harness(
    lambdas: Lambdas | None = None, sagemaker: Job | None = None, wait_scale: float = 0.0
) -> Iterator[Harness]:
    """Patch the interpreter; inside an active `mock_aws` (the `aws` fixture) it shares
    that mock's resources, else it starts its own."""
    factory = state_task_factory.state_task_service_for

    def service_for(service_name: str):
        return (
            _SageMakerService(sagemaker) if service_name == "sagemaker" else factory(service_name)
        )

    def wait(self, env, wait_seconds):
        if wait_seconds > 0 and wait_scale > 0:
            env.program_state_event.wait(wait_seconds * wait_scale)  # wakes on stop

    patches = [
        mock_aws(),
        mock.patch.dict(default_user_config, {"stepfunctions": {"execute_state_machine": True}}),
        mock.patch.object(lambda_eval_utils, "_invoke_lambda_function", _router(lambdas or {})),
        mock.patch.object(state_task_factory, "state_task_service_for", service_for),
        mock.patch.object(wait_function.WaitFunction, "_wait_interval", wait),
        mock.patch.object(
            retrier_decl, "time", mock.Mock(sleep=lambda s: time.sleep(s * wait_scale))
        ),
    ]
    with contextlib.ExitStack() as stack:
        for patch in patches:
            stack.enter_context(patch)
        yield Harness()


def run_execution(
    definition: dict | str,
    input: Any,
    *,
    lambdas: Lambdas | None = None,
    sagemaker: Job | None = None,
    name: str = "pf-test-execution",
    role_arn: str = ROLE_ARN,
    timeout: float = 60,
    wait_scale: float = 0.0,
) -> Execution:
    """Create the state machine, start one execution named `name`, wait for it to close."""
    with sfn_harness(lambdas, sagemaker, wait_scale) as harness:
        arn = harness.create(definition, role_arn=role_arn)
        return harness.wait(harness.start(arn, input, name), timeout)
