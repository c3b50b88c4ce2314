"""The day's Step Functions state machine as synthesized: its definition (the chain's
steps in order, every task bounded and retried, the SageMaker and SNS integrations), its
role (only what its tasks call; the training-job limits in IAM), logs, tracing, the
EventBridge archives, the outputs and the execution alarms."""

from __future__ import annotations

import json
import re
import typing
from datetime import date
from fnmatch import fnmatchcase
from types import SimpleNamespace

import aws_cdk as cdk
import pytest

from stacks.config import load_config
from stacks.orchestration import JOB_FIELDS, definition, lambda_steps
from stacks.training import TRAINING_JOB_PREFIX
from tests.infra.conftest import cdk_json_context, synth

STEP_FUNCTIONS = {
    "ScrapeFunction": "Scrape",
    "DayFunction": "Day",
    "LlmFunction": "Llm",
    "TrainFunction": "Train",
}
TRAINING_JOBS = "arn:aws:sagemaker:eu-west-1:111111111111:training-job/pf-*"
SAGEMAKER_EVENTS_RULE = (
    "arn:aws:events:eu-west-1:111111111111:rule/StepFunctionsGetEventsForSageMakerTrainingJobsRule"
)
# the budget table with one family's budget and one budget changed (no older single type)
INSTANCE_TYPES = {"lm/large": "ml.g6e.2xlarge", "tiny": "ml.m5.xlarge"}
OVERRIDES = {
    "trainingInstanceType": None,
    "trainingInstanceTypes": INSTANCE_TYPES,
    "trainingMaxRuntimeMinutes": 45,
    "githubRepository": None,
    "slackWebhookSecretName": None,
}


# -- template helpers -------------------------------------------------------------------


def _one(resources: dict, kind: str, prefix: str = "") -> tuple[str, dict]:
    found = [
        (k, r)
        for k, r in resources.items()
        if r["Type"] == kind and re.fullmatch(prefix + r"[A-Za-z0-9]*", k)
    ]
    assert len(found) == 1, [k for k, _ in found]
    return found[0]


def _function_id(resources: dict, name: str) -> str:
    (logical_id,) = [
        k
        for k, r in resources.items()
        if r["Type"] == "AWS::Lambda::Function" and re.fullmatch(f"Functions{name}[0-9A-F]{{8}}", k)
    ]
    return logical_id


def _token(value: dict) -> str:
    """A CloudFormation reference as text: <LogicalId> (Ref), <LogicalId.Attr> (GetAtt)."""
    if set(value) == {"Ref"}:
        return f"<{value['Ref']}>"
    if set(value) == {"Fn::GetAtt"}:
        logical_id, attribute = value["Fn::GetAtt"]
        return f"<{logical_id}.{attribute}>"
    raise AssertionError(f"not a reference: {value}")


def _text(value) -> str:
    """A DefinitionString as text, Fn::Join / Fn::Sub resolved with references as tokens."""
    if isinstance(value, str):
        return value
    if "Fn::Join" in value:
        separator, parts = value["Fn::Join"]
        return separator.join(_text(p) for p in parts)
    if "Fn::Sub" in value:
        body, variables = value["Fn::Sub"], {}
        if isinstance(body, list):
            body, variables = body
        return re.sub(
            r"\$\{([^}!]+)\}",
            lambda m: (
                _token(variables[m.group(1)]) if m.group(1) in variables else f"<{m.group(1)}>"
            ),
            body,
        )
    return _token(value)


def _state_machine(resources: dict) -> tuple[str, dict]:
    logical_id, r = _one(resources, "AWS::StepFunctions::StateMachine", "OrchestrationDay")
    return logical_id, r["Properties"]


def _raw_definition(resources: dict) -> str:
    """The definition text with its ${Placeholder}s (DefinitionSubstitutions) unresolved."""
    return _text(_state_machine(resources)[1]["DefinitionString"])


def _definition(resources: dict) -> dict:
    """The definition as deployed: placeholders replaced by their references' tokens."""
    props = _state_machine(resources)[1]
    substitutions = props.get("DefinitionSubstitutions", {})
    text = re.sub(
        r"\$\{([A-Za-z0-9_]+)\}",
        lambda m: _token(substitutions[m.group(1)]),
        _raw_definition(resources),
    )
    return json.loads(text)


def _states(scope: dict) -> typing.Iterator[tuple[str, dict]]:
    """Every state, those of Map processors included."""
    for name, state in scope["States"].items():
        yield name, state
        if state["Type"] == "Map":
            yield from _states(state["ItemProcessor"])


def _state(asl: dict, name: str) -> dict:
    return dict(_states(asl))[name]


def _is_lambda_task(state: dict) -> bool:
    return state["Type"] == "Task" and not state["Resource"].startswith("arn:aws:states:::")


def _function_of(resources: dict, resource: str) -> str:
    """Functions<Name>XXXXXXXX.Arn token -> Name."""
    match = re.fullmatch(r"<Functions([A-Za-z]+)[0-9A-F]{8}\.Arn>", resource)
    assert match, f"{resource} is not a function of the stack"
    assert _function_id(resources, match.group(1)) in resource
    return match.group(1)


def _happy_path(asl: dict) -> list[str]:
    """The chain steps an execution runs when all goes well: from StartAt along Next, into
    each Map's processor, through each Choice's first branch not yet taken."""
    steps: list[str] = []

    def run(scope: dict) -> None:
        name, seen = scope["StartAt"], set()
        while name is not None:
            assert name not in seen, f"{name} reached twice without a Choice"
            seen.add(name)
            state = scope["States"][name]
            if state["Type"] == "Task" and "step" in state.get("Parameters", {}):
                steps.append(state["Parameters"]["step"])
            if state["Type"] == "Map":
                run(state["ItemProcessor"])
            if state["Type"] == "Choice":
                name = next(
                    (c["Next"] for c in state["Choices"] if c["Next"] not in seen),
                    state.get("Default"),
                )
                if name in seen:
                    name = None
            else:
                name = state.get("Next")

    run(asl)
    return steps


def _retrier(state: dict, error: str) -> dict | None:
    """The retrier Step Functions applies to `error` (the first one that matches)."""
    for retrier in state.get("Retry", []):
        names = retrier["ErrorEquals"]
        if error in names or "States.ALL" in names:
            return retrier
        if "States.TaskFailed" in names and error != "States.Timeout":
            return retrier
    return None


def _list(value) -> list:
    return value if isinstance(value, list) else [value]


def _role_statements(resources: dict, role_id: str) -> list[dict]:
    statements = [
        s
        for r in resources.values()
        if r["Type"] in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy")
        and {"Ref": role_id} in r["Properties"].get("Roles", [])
        for s in r["Properties"]["PolicyDocument"]["Statement"]
    ]
    for policy in resources[role_id]["Properties"].get("Policies", []):
        statements += policy["PolicyDocument"]["Statement"]
    return statements


def _allows(statement: dict, action: str) -> bool:
    assert "NotAction" not in statement and "NotResource" not in statement, statement
    return statement["Effect"] == "Allow" and any(
        fnmatchcase(action.lower(), a.lower()) for a in _list(statement["Action"])
    )


def _role(resources: dict) -> str:
    return _state_machine(resources)[1]["RoleArn"]["Fn::GetAtt"][0]


def _grantees(resources: dict, action: str) -> set[str]:
    """Logical ids of the roles any policy of the template lets do `action`."""
    return {
        role["Ref"]
        for r in resources.values()
        if r["Type"] in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy")
        for s in r["Properties"]["PolicyDocument"]["Statement"]
        if _allows(s, action)
        for role in r["Properties"].get("Roles", [])
    } | {
        k
        for k, r in resources.items()
        if r["Type"] == "AWS::IAM::Role"
        for p in r["Properties"].get("Policies", [])
        for s in p["PolicyDocument"]["Statement"]
        if _allows(s, action)
    }


@pytest.fixture(scope="module")
def overridden(trainer_dir):
    return synth(trainer_dir, **OVERRIDES).template.to_json()["Resources"]


@pytest.fixture(scope="module")
def asl(dev_resources) -> dict:
    return _definition(dev_resources)


# -- the state machine ------------------------------------------------------------------


def test_one_standard_state_machine_logging_all_with_tracing(dev_resources):
    assert sum(r["Type"] == "AWS::StepFunctions::StateMachine" for r in dev_resources.values()) == 1
    _, props = _state_machine(dev_resources)
    assert props["StateMachineType"] == "STANDARD"
    assert props["TracingConfiguration"] == {"Enabled": True}
    logging = props["LoggingConfiguration"]
    assert logging["Level"] == "ALL"
    # execution data (inputs/outputs: digests, job descriptions) stays out of the logs
    assert logging.get("IncludeExecutionData", False) is False
    (destination,) = logging["Destinations"]
    group, attribute = destination["CloudWatchLogsLogGroup"]["LogGroupArn"]["Fn::GetAtt"]
    assert attribute == "Arn" and re.fullmatch(r"OrchestrationLogs[0-9A-F]{8}", group)
    assert dev_resources[group]["Properties"]["RetentionInDays"] == 30
    assert dev_resources[group]["DeletionPolicy"] == "Delete"


def test_prod_keeps_the_execution_logs(prod_minimal):
    resources = prod_minimal.template.to_json()["Resources"]
    _, props = _state_machine(resources)
    group = props["LoggingConfiguration"]["Destinations"][0]["CloudWatchLogsLogGroup"]
    group = group["LogGroupArn"]["Fn::GetAtt"][0]
    assert resources[group]["Properties"]["RetentionInDays"] == 90
    assert resources[group]["DeletionPolicy"] == "Retain"


def test_definition_is_the_python_definition(dev_resources):
    """What is deployed is `definition()` as JSON, placeholders substituted at deploy time
    by references to the stack's own functions, digest topic and SageMaker role."""
    max_runtime = 60 * 60  # trainingMaxRuntimeMinutes' default
    expected = definition(pick_concurrency=3, training_timeout_seconds=2 * max_runtime + 1800)
    raw = _raw_definition(dev_resources)
    assert raw == json.dumps(expected)
    _, props = _state_machine(dev_resources)
    substitutions = props["DefinitionSubstitutions"]
    assert set(re.findall(r"\$\{([A-Za-z0-9_]+)\}", raw)) == set(substitutions)
    for placeholder, name in STEP_FUNCTIONS.items():
        assert substitutions[placeholder] == {
            "Fn::GetAtt": [_function_id(dev_resources, name), "Arn"]
        }
    topic, _ = _one(dev_resources, "AWS::SNS::Topic", "MessagingNotificationTopic")
    assert substitutions["DigestTopicArn"] == {"Ref": topic}
    role, _ = _one(dev_resources, "AWS::IAM::Role", "TrainingSageMakerExecutionRole")
    assert substitutions["TrainingRoleArn"] == {"Fn::GetAtt": [role, "Arn"]}


def test_every_lambda_task_calls_a_step_function_allowed_that_step(dev_resources, asl):
    from handlers.steps import Step, StepEvent

    envs = {
        name: dev_resources[_function_id(dev_resources, name)]["Properties"]["Environment"][
            "Variables"
        ]
        for name in STEP_FUNCTIONS.values()
    }
    called: dict[str, set[str]] = {}
    for state_name, state in _states(asl):
        if not _is_lambda_task(state):
            continue
        function = _function_of(dev_resources, state["Resource"])
        step = state["Parameters"]["step"]
        assert step in typing.get_args(Step), state_name
        # the handler's model forbids unknown keys: every parameter must be one of its fields
        keys = {k.removesuffix(".$") for k in state["Parameters"]}
        assert keys <= set(StepEvent.model_fields), (state_name, keys)
        assert "day" in keys
        called.setdefault(function, set()).add(step)
    assert set(called) == set(STEP_FUNCTIONS.values())
    for function, steps in called.items():
        # a function is allowed exactly the steps the state machine calls it for
        assert set(envs[function]["STEPS"].split(",")) == steps, function


def test_chain_steps_in_order(dev_resources, asl):
    from paperfoundry.chain import DAY

    python = lambda_steps(definition())
    first_seen = list(dict.fromkeys(step for _, step in python))
    assert [s for s in first_seen if s in DAY] == list(DAY)
    deployed = [
        (_function_of(dev_resources, state["Resource"]), state["Parameters"]["step"])
        for _, state in _states(asl)
        if _is_lambda_task(state)
    ]
    assert deployed == [(STEP_FUNCTIONS[placeholder], step) for placeholder, step in python]
    # ... and an execution that meets no failure runs exactly the chain, in its order
    assert _happy_path(asl) == list(DAY)


def test_transitions_stay_in_scope_and_every_state_is_reachable(asl):
    def check(scope: dict) -> None:
        states = scope["States"]
        edges: dict[str, set[str]] = {}
        for name, state in states.items():
            targets = {state["Next"]} if "Next" in state else set()
            targets |= {c["Next"] for c in state.get("Choices", [])}
            targets |= {c["Next"] for c in state.get("Catch", [])}
            if "Default" in state:
                targets.add(state["Default"])
            assert targets <= set(states), (name, targets - set(states))
            if state["Type"] in ("Task", "Map", "Wait", "Pass"):
                assert ("Next" in state) != bool(state.get("End")), name
            edges[name] = targets
            if state["Type"] == "Map":
                check(state["ItemProcessor"])
        reached, todo = set(), [scope["StartAt"]]
        while todo:
            name = todo.pop()
            if name not in reached:
                reached.add(name)
                todo.extend(edges[name])
        assert reached == set(states), set(states) - reached

    check(asl)
    assert asl["TimeoutSeconds"] == 36 * 3600  # the execution's own deadline


def test_every_task_has_a_timeout_and_retries(dev_resources, asl):
    tasks = [(name, s) for name, s in _states(asl) if s["Type"] == "Task"]
    assert len(tasks) >= 14
    for name, state in tasks:
        assert isinstance(state["TimeoutSeconds"], int) and state["TimeoutSeconds"] > 0, name
        assert state["Retry"], name
        for rules in (state["Retry"], state.get("Catch", [])):
            for i, rule in enumerate(rules):  # States.ALL: alone, and last
                if "States.ALL" in rule["ErrorEquals"]:
                    assert rule["ErrorEquals"] == ["States.ALL"] and i == len(rules) - 1, name
        if not _is_lambda_task(state):
            continue
        function = _function_of(dev_resources, state["Resource"])
        timeout = dev_resources[_function_id(dev_resources, function)]["Properties"]["Timeout"]
        # the function's own timeout fires first, as the function's error
        assert state["TimeoutSeconds"] > timeout, name
        throttled = _retrier(state, "Lambda.TooManyRequestsException")
        assert throttled["MaxAttempts"] >= 3 and throttled["BackoffRate"] > 1, name
        assert _retrier(state, "Lambda.ServiceException")["MaxAttempts"] >= 3, name
        assert _retrier(state, "RuntimeError")["MaxAttempts"] >= 1, name  # a crash: again
        for final in ("PermissionError", "ValidationError", "DayFailed", "RankingIncomplete"):
            assert _retrier(state, final)["MaxAttempts"] == 0, (name, final)
    assert _retrier(_state(asl, "ScrapeUnit"), "SourceUnavailable")["MaxAttempts"] >= 1
    for name in ("FinishTraining", "FinishFailedJob"):
        still = _retrier(_state(asl, name), "JobStillRunning")
        # asked again for as long as a job may run (MaxRuntime and as long again for spot)
        assert still["IntervalSeconds"] * still["MaxAttempts"] >= 2 * 3600, name


def test_training_job_state(dev_resources, asl):
    from paperfoundry.adapters.aws.sagemaker import SageMakerBackend

    state = _state(asl, "TrainingJob")
    assert state["Resource"] == "arn:aws:states:::sagemaker:createTrainingJob.sync"
    params = state["Parameters"]
    # role and isolation fixed by the stack, never taken from a step's result
    assert params["EnableNetworkIsolation"] is True
    role, _ = _one(dev_resources, "AWS::IAM::Role", "TrainingSageMakerExecutionRole")
    assert params["RoleArn"] == f"<{role}.Arn>"
    assert set(params) == {"EnableNetworkIsolation", "RoleArn"} | {f"{k}.$" for k in JOB_FIELDS}
    assert all(params[f"{k}.$"] == f"$.start.job.{k}" for k in JOB_FIELDS)
    # every path must exist in the request start_training returns: a missing one is a
    # States.Runtime error, which no Catch catches (the whole day would fail)
    run = SimpleNamespace(
        day=date(2024, 10, 25), arxiv_id="2410.00001", run_id="r1", attempt=1, task="t", budget=1
    )
    impl = SimpleNamespace(file_name="impl.py", paper_params=None)
    for spot in (True, False):
        backend = SageMakerBackend(
            blobs=SimpleNamespace(bucket="b"), image_uri="i", role_arn="r", spot=spot, client=1
        )
        request = backend.job_request(run, impl, "implementations/r1/")
        assert set(JOB_FIELDS) <= set(request), set(JOB_FIELDS) - set(request)
        if spot:
            # spot: MaxWait (runtime + waiting for capacity) fits in the state's timeout
            assert state["TimeoutSeconds"] > request["StoppingCondition"]["MaxWaitTimeInSeconds"]
    assert state["Catch"] == [
        {"ErrorEquals": ["States.ALL"], "ResultPath": "$.job_error", "Next": "FinishFailedJob"}
    ]
    assert state["Next"] == "FinishTraining"


def test_publish_goes_to_the_digest_topic_and_failure_is_caught(dev_resources, asl):
    state = _state(asl, "Publish")
    assert state["Resource"] == "arn:aws:states:::sns:publish"
    topic, _ = _one(dev_resources, "AWS::SNS::Topic", "MessagingNotificationTopic")
    assert state["Parameters"]["TopicArn"] == f"<{topic}>"
    assert state["Parameters"]["Message.$"] == "$.report.message"
    assert state["Catch"] == [
        {"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "PublishFailed"}
    ]
    failed = _state(asl, "PublishFailed")
    assert _is_lambda_task(failed) and failed["Parameters"]["step"] == "publish_failed"
    assert _state(asl, failed["Next"])["Type"] == "Fail"  # the execution fails: alarm
    assert _state(asl, state["Next"])["Parameters"]["step"] == "published"


# -- the role ---------------------------------------------------------------------------


def _training_conditions(instance_types: typing.Iterable[str], max_runtime_seconds: int) -> dict:
    return {
        "Bool": {"sagemaker:NetworkIsolation": "true"},
        "Null": {"sagemaker:InstanceTypes": "false"},
        "ForAllValues:StringEquals": {"sagemaker:InstanceTypes": sorted(instance_types)},
        "NumericLessThanEquals": {"sagemaker:MaxRuntimeInSeconds": str(max_runtime_seconds)},
    }


def test_role_trusts_only_step_functions_of_this_account(dev_resources):
    role = dev_resources[_role(dev_resources)]["Properties"]
    (trust,) = role["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"Service": "states.amazonaws.com"}
    assert trust["Condition"]["StringEquals"] == {"aws:SourceAccount": "111111111111"}
    assert "ManagedPolicyArns" not in role


def test_role_starts_only_isolated_bounded_training_jobs(dev_resources):
    context = cdk_json_context()
    statements = _role_statements(dev_resources, _role(dev_resources))
    (create,) = [s for s in statements if _allows(s, "sagemaker:CreateTrainingJob")]
    assert create["Action"] == "sagemaker:CreateTrainingJob"  # nothing else rides along
    assert create["Resource"] == TRAINING_JOBS
    config = load_config(cdk.App(context=context).node)
    assert create["Condition"] == _training_conditions(
        set(config.training_instance_types.values()),
        60 * context.get("trainingMaxRuntimeMinutes", 60),
    )
    others = {
        a for s in statements if s is not create for a in _list(s["Action"]) if "sagemaker" in a
    }
    assert others == {
        "sagemaker:DescribeTrainingJob",
        "sagemaker:StopTrainingJob",
        "sagemaker:AddTags",  # Step Functions tags the jobs it starts
        "sagemaker:ListTags",  # AWS's policy example for .sync lists it
    }
    for s in statements:
        if s is not create and any("sagemaker" in a for a in _list(s["Action"])):
            assert s["Resource"] == TRAINING_JOBS and "Condition" not in s


def test_training_job_limits_follow_the_context(overridden):
    statements = _role_statements(overridden, _role(overridden))
    (create,) = [s for s in statements if _allows(s, "sagemaker:CreateTrainingJob")]
    # exactly the table's instance types: the defaults, the two overrides
    allowed = {"ml.c5.2xlarge", "ml.g5.2xlarge", "ml.g6e.xlarge", *INSTANCE_TYPES.values()}
    assert create["Condition"] == _training_conditions(allowed, 45 * 60)
    timeout = _state(_definition(overridden), "TrainingJob")["TimeoutSeconds"]
    assert timeout > 2 * 45 * 60  # MaxRuntime, and as long again waiting for spot capacity


def test_role_passes_only_the_sagemaker_role_to_sagemaker(dev_resources):
    statements = _role_statements(dev_resources, _role(dev_resources))
    (passrole,) = [s for s in statements if _allows(s, "iam:PassRole")]
    assert passrole["Action"] == "iam:PassRole"
    role, _ = _one(dev_resources, "AWS::IAM::Role", "TrainingSageMakerExecutionRole")
    assert passrole["Resource"] == {"Fn::GetAtt": [role, "Arn"]}
    assert passrole["Condition"] == {
        "StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}
    }


def test_only_the_state_machine_starts_jobs_and_passes_roles(dev_resources):
    role = _role(dev_resources)
    assert _grantees(dev_resources, "sagemaker:CreateTrainingJob") == {role}
    assert _grantees(dev_resources, "iam:PassRole") == {role}


def test_role_events_only_on_the_managed_sagemaker_rule(dev_resources):
    statements = _role_statements(dev_resources, _role(dev_resources))
    events = [s for s in statements if any(a.startswith("events:") for a in _list(s["Action"]))]
    assert {a for s in events for a in _list(s["Action"])} == {
        "events:PutTargets",
        "events:PutRule",
        "events:DescribeRule",
    }
    assert all(s["Resource"] == SAGEMAKER_EVENTS_RULE for s in events)


def test_role_invokes_only_the_four_step_functions(dev_resources):
    statements = _role_statements(dev_resources, _role(dev_resources))
    invoke = [s for s in statements if _allows(s, "lambda:InvokeFunction")]
    assert all(s["Action"] == "lambda:InvokeFunction" for s in invoke)
    arns = [
        res["Fn::Join"][1][0]["Fn::GetAtt"][0] + res["Fn::Join"][1][1]
        if "Fn::Join" in res
        else res["Fn::GetAtt"][0]
        for s in invoke
        for res in _list(s["Resource"])
    ]
    ids = {name: _function_id(dev_resources, name) for name in STEP_FUNCTIONS.values()}
    assert sorted(arns) == sorted([*ids.values(), *(f"{i}:*" for i in ids.values())])


def test_role_allows_nothing_else(dev_resources):
    statements = _role_statements(dev_resources, _role(dev_resources))
    topic, _ = _one(dev_resources, "AWS::SNS::Topic", "MessagingNotificationTopic")
    key, _ = _one(dev_resources, "AWS::KMS::Key", "StorageDataKey")
    unscoped = set()
    for s in statements:
        assert s["Effect"] == "Allow"
        actions = set(_list(s["Action"]))
        if s["Resource"] == "*":
            unscoped |= actions
        elif "sns:Publish" in actions:
            assert actions == {"sns:Publish"} and s["Resource"] == {"Ref": topic}
        elif any(a.startswith("kms:") for a in actions):
            # publishing to the encrypted digest topic
            assert actions == {"kms:Decrypt", "kms:GenerateDataKey*"}
            assert s["Resource"] == {"Fn::GetAtt": [key, "Arn"]}
        else:
            prefixes = {a.split(":")[0] for a in actions}
            assert prefixes in ({"sagemaker"}, {"events"}, {"iam"}, {"lambda"}), actions
    # log delivery and X-Ray support no resource ARNs
    assert {a.split(":")[0] for a in unscoped} <= {"logs", "xray"}


# -- archives, outputs, alarms ----------------------------------------------------------


def test_archives_of_executions_and_training_jobs(dev_resources):
    archives = [
        r["Properties"] for r in dev_resources.values() if r["Type"] == "AWS::Events::Archive"
    ]
    assert len(archives) == 2
    sm, _ = _state_machine(dev_resources)
    assert TRAINING_JOB_PREFIX == "pf-"
    patterns = sorted((a["EventPattern"] for a in archives), key=lambda p: p["source"])
    assert patterns == [
        {
            "source": ["aws.sagemaker"],
            "detail-type": ["SageMaker Training Job State Change"],
            "detail": {"TrainingJobName": [{"prefix": TRAINING_JOB_PREFIX}]},
        },
        {"source": ["aws.states"], "detail": {"stateMachineArn": [{"Ref": sm}]}},
    ]
    for archive in archives:
        assert archive["SourceArn"] == "arn:aws:events:eu-west-1:111111111111:event-bus/default"
        assert archive["RetentionDays"] == 90


def test_outputs(dev_template, dev_resources):
    outputs = dev_template.to_json()["Outputs"]
    sm, _ = _state_machine(dev_resources)
    assert outputs["StateMachineArn"]["Value"] == {"Ref": sm}
    assert outputs["StartFunctionName"]["Value"] == {"Ref": _function_id(dev_resources, "Start")}


def test_failed_timed_out_or_aborted_executions_alarm(dev_resources):
    sm, _ = _state_machine(dev_resources)
    ops, _ = _one(dev_resources, "AWS::SNS::Topic", "MessagingOpsTopic")
    alarms = {
        r["Properties"]["MetricName"]: r["Properties"]
        for r in dev_resources.values()
        if r["Type"] == "AWS::CloudWatch::Alarm"
        and r["Properties"].get("Namespace") == "AWS/States"
    }
    assert set(alarms) == {"ExecutionsFailed", "ExecutionsTimedOut", "ExecutionsAborted"}
    for alarm in alarms.values():
        assert alarm["Dimensions"] == [{"Name": "StateMachineArn", "Value": {"Ref": sm}}]
        assert alarm["Statistic"] == "Sum" and alarm["Threshold"] == 1
        assert alarm["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"
        assert alarm["EvaluationPeriods"] == 1
        assert alarm["TreatMissingData"] == "notBreaching"
        assert alarm["AlarmActions"] == [{"Ref": ops}]
