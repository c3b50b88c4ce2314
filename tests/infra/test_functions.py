"""Lambda functions: handlers, runtime, layer, log groups, environment, event sources,
least-privilege grants, and the failure path of the asynchronously invoked ones.

Four functions run one handler (`handlers.steps.handler`), each allowed only its own chain
steps (env STEPS) and called synchronously by the day's state machine; start and watchdog
are invoked by EventBridge Scheduler, Slack by SNS (both asynchronous), rank by SQS.
"""

from __future__ import annotations

import json
import re
import typing
from fnmatch import fnmatchcase

import aws_cdk as cdk
import pytest
from aws_cdk.assertions import Match
from paperfoundry.adapters.aws.sagemaker import instance_types_from_json

from stacks.config import load_config
from stacks.functions import SPECS, powertools_layer_parameter
from tests.infra.conftest import cdk_json_context, synth

STEP = "handlers.steps.handler"
HANDLERS = {
    "Start": "handlers.start.handler",
    "Scrape": STEP,
    "Day": STEP,
    "Llm": STEP,
    "Train": STEP,
    "Rank": "handlers.rank.handler",
    "Watchdog": "handlers.watchdog.handler",
    "Slack": "handlers.slack.handler",  # only with context slackWebhookSecretName
}
STEP_FUNCTIONS = ("Scrape", "Day", "Llm", "Train")
ASYNC_FUNCTIONS = {"Start", "Watchdog", "Slack"}  # Scheduler / SNS: Lambda's async path
COMMON_ENV = {
    "POWERTOOLS_SERVICE_NAME",
    "POWERTOOLS_METRICS_NAMESPACE",
    "LOG_LEVEL",
    "POWERTOOLS_TRACE_DISABLED",
}
BASE_ENV = COMMON_ENV | {"TABLE_NAME", "BUCKET_NAME"}
TRAINING_ENV = {
    "TRAINER_IMAGE_URI",
    "SAGEMAKER_ROLE_ARN",
    "TRAINING_INSTANCE_TYPES",
    "TRAINING_MAX_RUNTIME_SECONDS",
}
# Only when the context sets maxPicks / gpuMinutesBudget / arxivCategories / backfillDays
# (AppConfig.config_overrides): otherwise config/paperfoundry.toml decides.
OVERRIDE_ENV = {"MAX_PICKS", "GPU_MINUTES_BUDGET", "ARXIV_CATEGORIES", "BACKFILL_DAYS"}
# Environment of each function in the dev fixture (site on, LLM and Slack secrets set, none
# of the OVERRIDE_ENV keys in the context).
ENV = {
    "Start": BASE_ENV | {"STATE_MACHINE_ARN"},
    "Scrape": BASE_ENV | {"STEPS"},
    "Day": BASE_ENV | {"STEPS", "QUEUE_URL", "SITE_URL", "LLM_SECRET_ARN"},  # embeddings
    "Llm": BASE_ENV | {"STEPS", "LLM_SECRET_ARN"},
    "Train": BASE_ENV | {"STEPS"} | TRAINING_ENV,
    "Rank": BASE_ENV,
    "Watchdog": BASE_ENV | TRAINING_ENV,
    "Slack": BASE_ENV | {"SLACK_WEBHOOK_SECRET_ARN"},
}
# Object prefixes of the artefact bucket each function may read / write.
S3_ACCESS = {
    "Start": ({"config/"}, set()),
    "Scrape": ({"config/"}, set()),
    "Day": (
        {"config/", "days/", "reports/", "embeddings/"},
        {"days/", "reports/", "embeddings/"},
    ),
    "Llm": ({"config/", "implementations/"}, {"implementations/"}),
    "Train": ({"config/", "implementations/", "training/"}, {"implementations/"}),
    "Rank": ({"config/", "days/", "embeddings/"}, set()),
    "Watchdog": ({"config/", "training/"}, set()),
    "Slack": ({"reports/"}, set()),
}
TRAINING_JOBS = "arn:aws:sagemaker:eu-west-1:111111111111:training-job/pf-*"
OVERRIDES = {
    "site": False,
    "maxPicks": 5,
    "gpuMinutesBudget": 90,
    "arxivCategories": "cs.LG,stat.ML",
    "enableTracing": True,
    "logLevel": "DEBUG",
    "backfillDays": 5,
    # the older single type, then one budget of the table
    "trainingInstanceType": "ml.g4dn.xlarge",
    "trainingInstanceTypes": {"large": "ml.g6e.xlarge"},
    "trainingMaxRuntimeMinutes": 45,
    "githubRepository": None,  # no OIDC stack: nothing here reads it
}


def _functions(resources: dict) -> dict[str, tuple[str, dict]]:
    """name -> (logical id, resource) of the Lambda functions of the Functions construct."""
    found = {}
    for logical_id, r in resources.items():
        if r["Type"] != "AWS::Lambda::Function":
            continue
        match = re.fullmatch(r"Functions([A-Za-z]+)[0-9A-F]{8}", logical_id)
        assert match, f"unexpected function {logical_id}"
        found[match.group(1)] = (logical_id, r)
    return found


def _env(resources: dict, name: str) -> dict:
    return _functions(resources)[name][1]["Properties"]["Environment"]["Variables"]


def _logical_id(resources: dict, prefix: str, kind: str) -> str:
    (logical_id,) = [
        k
        for k, r in resources.items()
        if r["Type"] == kind and re.fullmatch(prefix + r"[0-9A-F]{8}", k)
    ]
    return logical_id


def _list(value) -> list:
    return value if isinstance(value, list) else [value]


def _role_statements(resources: dict, role_id: str) -> list[dict]:
    """Every statement of the policies attached to `role_id` (inline, or AWS::IAM::Policy)."""
    statements = []
    for r in resources.values():
        if r["Type"] in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
            props = r["Properties"]
            if {"Ref": role_id} in props.get("Roles", []):
                statements += props["PolicyDocument"]["Statement"]
    role = resources[role_id]["Properties"]
    for policy in role.get("Policies", []):
        statements += policy["PolicyDocument"]["Statement"]
    return statements


def _function_statements(resources: dict, name: str) -> list[dict]:
    _, fn = _functions(resources)[name]
    return _role_statements(resources, fn["Properties"]["Role"]["Fn::GetAtt"][0])


def _allows(statement: dict, action: str) -> bool:
    """Whether an Allow statement grants `action` (wildcards in its actions included)."""
    assert "NotAction" not in statement, statement
    return statement["Effect"] == "Allow" and any(
        fnmatchcase(action.lower(), a.lower()) for a in _list(statement["Action"])
    )


def _s3_prefixes(statements: list[dict], action: str) -> set[str]:
    prefixes = set()
    for s in statements:
        if not _allows(s, action):
            continue
        for res in _list(s["Resource"]):
            bucket, suffix = res["Fn::Join"][1]
            assert bucket["Fn::GetAtt"][0].startswith("StorageArtifactBucket"), res
            assert suffix.startswith("/") and suffix.endswith("/*"), suffix
            prefixes.add(suffix[1:-1])
    return prefixes


@pytest.fixture(scope="module")
def overridden(trainer_dir):
    """dev with the site off, tracing on and every optional config override set."""
    return synth(trainer_dir, **OVERRIDES).template.to_json()["Resources"]


def test_functions_with_expected_handlers_runtime_and_layer(dev_resources):
    fns = _functions(dev_resources)
    assert set(fns) == set(HANDLERS)
    for name, (_, fn) in fns.items():
        props = fn["Properties"]
        assert props["Handler"] == HANDLERS[name], name
        assert props["Runtime"] == "python3.12"
        assert props["Architectures"] == ["x86_64"]
        assert "TracingConfig" not in props  # X-Ray is opt-in (context enableTracing)
        assert len(props["Layers"]) == 1 and "Ref" in props["Layers"][0]
        assert props["Timeout"] == SPECS[name].timeout.to_seconds(), name
        assert props["MemorySize"] == SPECS[name].memory, name
        assert "ReservedConcurrentExecutions" not in props


def test_step_functions_run_only_their_own_steps(dev_resources):
    from handlers.steps import Step
    from paperfoundry.chain import DAY

    known = set(typing.get_args(Step))
    allowed = {}
    for name in STEP_FUNCTIONS:
        steps = _env(dev_resources, name)["STEPS"]
        assert steps == ",".join(SPECS[name].steps) and steps, name
        allowed[name] = set(steps.split(","))
        assert allowed[name] <= known, name  # the handler accepts every step it is given
    # no step runs in two functions (each has only the permissions its steps need) ...
    assert sum(len(s) for s in allowed.values()) == len(set().union(*allowed.values()))
    # ... and every step of the day runs in one of them
    assert set(DAY) <= set().union(*allowed.values())
    for name in set(HANDLERS) - set(STEP_FUNCTIONS):
        assert "STEPS" not in _env(dev_resources, name), name


def test_powertools_layer_comes_from_public_ssm_parameter(dev_template):
    params = dev_template.to_json()["Parameters"]
    layer_params = [
        p for p in params.values() if p.get("Default", "").startswith("/aws/service/powertools/")
    ]
    assert layer_params == [
        {
            "Type": "AWS::SSM::Parameter::Value<String>",
            "Default": powertools_layer_parameter("latest"),
        }
    ]
    assert powertools_layer_parameter("3.1.0") == (
        "/aws/service/powertools/python/x86_64/python3.12/3.1.0"
    )


def test_each_function_logs_to_its_own_log_group(dev_resources, prod_minimal):
    for resources, days, policy in (
        (dev_resources, 30, "Delete"),
        (prod_minimal.template.to_json()["Resources"], 90, "Retain"),
    ):
        for name, (_, fn) in _functions(resources).items():
            group = fn["Properties"]["LoggingConfig"]["LogGroup"]["Ref"]
            assert re.fullmatch(f"Functions{name}LogGroup[0-9A-F]{{8}}", group), (name, group)
            assert resources[group]["Properties"]["RetentionInDays"] == days
            assert resources[group]["DeletionPolicy"] == policy


def test_function_environment(dev_resources):
    table = _logical_id(dev_resources, "StorageTable", "AWS::DynamoDB::Table")
    bucket = _logical_id(dev_resources, "StorageArtifactBucket", "AWS::S3::Bucket")
    for name, expected in ENV.items():
        env = _env(dev_resources, name)
        assert set(env) == expected, name  # no MAX_PICKS & co. unless the context sets them
        assert env["TABLE_NAME"] == {"Ref": table}
        assert env["BUCKET_NAME"] == {"Ref": bucket}
        assert env["POWERTOOLS_SERVICE_NAME"] == "paperfoundry"
        assert env["POWERTOOLS_METRICS_NAMESPACE"] == "PaperFoundry"
        assert env["LOG_LEVEL"] == "INFO"
        assert env["POWERTOOLS_TRACE_DISABLED"] == "true"
        if TRAINING_ENV <= set(env):
            # the table the IAM condition allows, as the adapter reads it
            config = load_config(cdk.App(context=cdk_json_context()).node)
            types = instance_types_from_json(env["TRAINING_INSTANCE_TYPES"])
            assert types == config.training_instance_types
            assert env["TRAINING_MAX_RUNTIME_SECONDS"] == "3600"
            role = env["SAGEMAKER_ROLE_ARN"]["Fn::GetAtt"]
            assert role[0].startswith("TrainingSageMakerExecutionRole") and role[1] == "Arn"
            assert "Fn::Sub" in env["TRAINER_IMAGE_URI"]


def test_environment_values_point_at_the_right_resources(dev_template, dev_resources):
    outputs = dev_template.to_json()["Outputs"]
    assert _env(dev_resources, "Start")["STATE_MACHINE_ARN"] == {
        "Ref": _logical_id(dev_resources, "OrchestrationDay", "AWS::StepFunctions::StateMachine")
    }
    day = _env(dev_resources, "Day")
    assert day["QUEUE_URL"] == {
        "Ref": _logical_id(dev_resources, "MessagingPapersQueue", "AWS::SQS::Queue")
    }
    assert day["SITE_URL"] == outputs["SiteUrl"]["Value"]
    for name in ("Train", "Watchdog"):
        env = _env(dev_resources, name)
        assert env["TRAINER_IMAGE_URI"] == outputs["TrainerImageUri"]["Value"]
        assert env["SAGEMAKER_ROLE_ARN"] == outputs["SageMakerRoleArn"]["Value"]
    assert _env(dev_resources, "Llm")["LLM_SECRET_ARN"].endswith(":secret:paperfoundry/llm")
    assert _env(dev_resources, "Slack")["SLACK_WEBHOOK_SECRET_ARN"].endswith(
        ":secret:paperfoundry/slack-webhook"
    )


def test_context_overrides_reach_every_function(overridden):
    fns = _functions(overridden)
    assert set(fns) == set(HANDLERS)
    for name, (_, fn) in fns.items():
        props = fn["Properties"]
        env = props["Environment"]["Variables"]
        expected = ENV[name] | OVERRIDE_ENV
        if name == "Day":
            expected = expected - {"SITE_URL"}  # the site is off: presigned links
        assert set(env) == expected, name
        assert env["MAX_PICKS"] == "5"
        assert env["GPU_MINUTES_BUDGET"] == "90"
        assert env["ARXIV_CATEGORIES"] == "cs.LG,stat.ML"
        assert env["BACKFILL_DAYS"] == "5"
        assert env["LOG_LEVEL"] == "DEBUG"
        assert env["POWERTOOLS_TRACE_DISABLED"] == "false"
        assert props["TracingConfig"] == {"Mode": "Active"}
        if name in ("Train", "Watchdog"):
            assert json.loads(env["TRAINING_INSTANCE_TYPES"]) == {
                "tiny": "ml.g4dn.xlarge", "small": "ml.g4dn.xlarge",
                "medium": "ml.g4dn.xlarge", "large": "ml.g6e.xlarge",
            }  # fmt: skip
            assert env["TRAINING_MAX_RUNTIME_SECONDS"] == "2700"


def test_slack_and_llm_secret_are_optional(prod_minimal):
    resources = prod_minimal.template.to_json()["Resources"]
    fns = _functions(resources)
    assert set(fns) == set(HANDLERS) - {"Slack"}
    for name in fns:
        assert "LLM_SECRET_ARN" not in _env(resources, name)
        assert not any(
            _allows(s, "secretsmanager:GetSecretValue")
            for s in _function_statements(resources, name)
        ), name


def test_only_llm_and_day_can_read_the_llm_secret(dev_resources):
    readers = set()
    for r in dev_resources.values():
        if r["Type"] != "AWS::IAM::Policy":
            continue
        for s in r["Properties"]["PolicyDocument"]["Statement"]:
            if _allows(s, "secretsmanager:GetSecretValue") and any(
                "secret:paperfoundry/llm" in str(res) for res in _list(s["Resource"])
            ):
                readers.update(role["Ref"] for role in r["Properties"]["Roles"])
    fns = _functions(dev_resources)
    roles = {fns[name][1]["Properties"]["Role"]["Fn::GetAtt"][0] for name in ("Llm", "Day")}
    assert readers == roles  # review/implement; the day's embeddings at ingest
    # Slack reads its webhook secret and nothing else
    slack = [
        s
        for s in _function_statements(dev_resources, "Slack")
        if _allows(s, "secretsmanager:GetSecretValue")
    ]
    assert [s["Resource"] for s in slack] == [
        "arn:aws:secretsmanager:eu-west-1:111111111111:secret:paperfoundry/slack-webhook-??????"
    ]


@pytest.mark.parametrize("name", sorted(HANDLERS))
def test_no_function_starts_training_jobs_or_passes_roles(dev_resources, name):
    """Only the state machine starts jobs (createTrainingJob.sync) and passes the SageMaker
    role: a Lambda running LLM-written text cannot start one, isolated or not."""
    statements = _function_statements(dev_resources, name)
    for action in ("sagemaker:CreateTrainingJob", "iam:PassRole", "sagemaker:StopTrainingJob"):
        assert not any(_allows(s, action) for s in statements), (name, action)
    sagemaker = {a for s in statements for a in _list(s["Action"]) if a.startswith("sagemaker:")}
    if name in ("Train", "Watchdog"):
        (describe,) = [s for s in statements if sagemaker & set(_list(s["Action"]))]
        assert describe["Action"] == "sagemaker:DescribeTrainingJob"
        assert describe["Resource"] == TRAINING_JOBS
        assert "Condition" not in describe
    else:
        assert sagemaker == set(), name


@pytest.mark.parametrize("name", sorted(HANDLERS))
def test_no_function_puts_events_or_touches_executions_but_start(dev_resources, name):
    statements = _function_statements(dev_resources, name)
    assert not any(_allows(s, "events:PutEvents") for s in statements), name
    states = [s for s in statements if any(a.startswith("states:") for a in _list(s["Action"]))]
    if name == "Start":
        sm = _logical_id(dev_resources, "OrchestrationDay", "AWS::StepFunctions::StateMachine")
        assert states and all(s["Resource"] == {"Ref": sm} for s in states)
        assert any(_allows(s, "states:StartExecution") for s in states)
        assert not any(_allows(s, "states:StopExecution") for s in states)
    else:
        assert states == [], name


def test_start_may_list_the_executions_of_the_state_machine(dev_resources):
    sm = _logical_id(dev_resources, "OrchestrationDay", "AWS::StepFunctions::StateMachine")
    listing = [
        s
        for s in _function_statements(dev_resources, "Start")
        if _allows(s, "states:ListExecutions")
    ]
    assert listing and all(s["Resource"] == {"Ref": sm} for s in listing)


def test_only_day_sends_to_the_papers_queue(dev_resources):
    queue = _logical_id(dev_resources, "MessagingPapersQueue", "AWS::SQS::Queue")
    senders = {
        name
        for name in HANDLERS
        for s in _function_statements(dev_resources, name)
        if _allows(s, "sqs:SendMessage") and {"Fn::GetAtt": [queue, "Arn"]} in _list(s["Resource"])
    }
    assert senders == {"Day"}


@pytest.mark.parametrize("name", sorted(HANDLERS))
def test_bucket_access_by_prefix(dev_resources, name):
    statements = _function_statements(dev_resources, name)
    read, write = S3_ACCESS[name]
    assert _s3_prefixes(statements, "s3:GetObject") == read, name
    assert _s3_prefixes(statements, "s3:PutObject") == write, name
    assert _s3_prefixes(statements, "s3:DeleteObject") == set(), name
    (listing,) = [s for s in statements if _allows(s, "s3:ListBucket")]
    assert set(listing["Condition"]) == {"StringLike"}
    assert set(_list(listing["Condition"]["StringLike"]["s3:prefix"])) == {p + "*" for p in read}


def test_no_function_gets_bucket_wide_object_access(dev_resources):
    for name in HANDLERS:
        for s in _function_statements(dev_resources, name):
            actions = _list(s["Action"])
            if not any(a.startswith("s3:") for a in actions):
                continue
            for res in _list(s["Resource"]):
                if "Fn::Join" in res:
                    suffix = res["Fn::Join"][1][-1]
                    assert suffix.lstrip("/").split("/")[0] + "/" in {
                        "config/",
                        "days/",
                        "implementations/",
                        "training/",
                        "reports/",
                        "embeddings/",
                    }, (name, suffix)
                else:  # bare bucket ARN: ListBucket, always prefix-conditioned
                    assert s["Action"] == "s3:ListBucket" and "s3:prefix" in str(s["Condition"])


def test_async_functions_have_dlq_and_retry_limits(dev_resources):
    fns = _functions(dev_resources)
    configs = {
        r["Properties"]["FunctionName"]["Ref"]: r["Properties"]
        for r in dev_resources.values()
        if r["Type"] == "AWS::Lambda::EventInvokeConfig"
    }
    assert {name for name, spec in SPECS.items() if spec.async_invoked} == ASYNC_FUNCTIONS
    for name, (logical_id, fn) in fns.items():
        props = fn["Properties"]
        if name in ASYNC_FUNCTIONS:
            dlq = props["DeadLetterConfig"]["TargetArn"]["Fn::GetAtt"][0]
            assert dlq.startswith("MessagingLambdaAsyncDlq"), name
            assert configs[logical_id]["MaximumRetryAttempts"] == 2
            assert configs[logical_id]["MaximumEventAgeInSeconds"] == 6 * 3600
        else:
            # the state machine invokes the step functions synchronously (its Retry/Catch
            # handle failures); rank is fed by SQS, whose redrive policy is its DLQ
            assert "DeadLetterConfig" not in props, name
            assert logical_id not in configs, name


def test_slack_subscribes_to_the_digest_topic_with_dlq(dev_template, dev_resources):
    slack_id, _ = _functions(dev_resources)["Slack"]
    dev_template.has_resource_properties(
        "AWS::SNS::Subscription",
        {
            "Protocol": "lambda",
            "Endpoint": {"Fn::GetAtt": [slack_id, "Arn"]},
            "TopicArn": {"Ref": Match.string_like_regexp("^MessagingNotificationTopic")},
            "RedrivePolicy": {"deadLetterTargetArn": Match.any_value()},
        },
    )


def test_rank_consumes_papers_queue_with_partial_batch_failures(dev_template, dev_resources):
    rank_id, _ = _functions(dev_resources)["Rank"]
    dev_template.has_resource_properties(
        "AWS::Lambda::EventSourceMapping",
        {
            "FunctionName": {"Ref": rank_id},
            "EventSourceArn": {"Fn::GetAtt": [Match.string_like_regexp("PapersQueue"), "Arn"]},
            "BatchSize": 10,
            "MaximumBatchingWindowInSeconds": 30,
            "ScalingConfig": {"MaximumConcurrency": 2},
            "FunctionResponseTypes": ["ReportBatchItemFailures"],
        },
    )
    mappings = dev_template.find_resources("AWS::Lambda::EventSourceMapping")
    assert len(mappings) == 1  # no other function polls a queue
