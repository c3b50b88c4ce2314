"""Lambda functions: runtime, layer, handlers, environment, event sources, async failure paths."""

import pytest
from aws_cdk.assertions import Match

from stacks.functions import powertools_layer_parameter

HANDLERS = {
    "Scrape": "handlers.scrape.handler",
    "Rank": "handlers.rank.handler",
    "Select": "handlers.select.handler",
    "Report": "handlers.report.handler",
    "Slack": "handlers.slack.handler",
}
COMMON_ENV = {
    "POWERTOOLS_SERVICE_NAME",
    "POWERTOOLS_METRICS_NAMESPACE",
    "LOG_LEVEL",
    "POWERTOOLS_TRACE_DISABLED",
}
CORE_ENV = COMMON_ENV | {
    "TABLE_NAME",
    "BUCKET_NAME",
    "TRAINING_INSTANCE_TYPE",
    "TRAINING_MAX_RUNTIME_SECONDS",
    "MAX_PICKS",
    "GPU_MINUTES_BUDGET",
    "ARXIV_CATEGORIES",
    "BACKFILL_DAYS",
}


def _functions(resources):
    return {
        name: (logical_id, r)
        for logical_id, r in resources.items()
        if r["Type"] == "AWS::Lambda::Function"
        for name in HANDLERS
        if logical_id.startswith(f"Functions{name}")
    }


def test_five_functions_with_expected_handlers(dev_resources):
    fns = _functions(dev_resources)
    assert set(fns) == set(HANDLERS)
    for name, (_, fn) in fns.items():
        props = fn["Properties"]
        assert props["Handler"] == HANDLERS[name]
        assert props["Runtime"] == "python3.12"
        assert props["Architectures"] == ["x86_64"]
        assert "TracingConfig" not in props  # X-Ray is opt-in (context enableTracing)
        assert len(props["Layers"]) == 1 and "Ref" in props["Layers"][0]


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


@pytest.mark.parametrize(
    ("name", "extra"),
    [
        ("Scrape", {"QUEUE_URL"}),
        ("Rank", {"EVENT_BUS_NAME"}),
        ("Select", {"TRAINER_IMAGE_URI", "SAGEMAKER_ROLE_ARN", "TOPIC_ARN", "LLM_SECRET_ARN"}),
        # with an LLM, report repairs rejected generated code and restarts training
        ("Report", {"TOPIC_ARN", "LLM_SECRET_ARN", "TRAINER_IMAGE_URI", "SAGEMAKER_ROLE_ARN"}),
    ],
)
def test_core_function_environment(dev_resources, name, extra):
    _, fn = _functions(dev_resources)[name]
    env = fn["Properties"]["Environment"]["Variables"]
    assert set(env) == CORE_ENV | extra
    assert env["POWERTOOLS_SERVICE_NAME"] == "paperfoundry"
    assert env["POWERTOOLS_METRICS_NAMESPACE"] == "PaperFoundry"
    assert env["LOG_LEVEL"] == "INFO"
    assert env["TRAINING_INSTANCE_TYPE"] == "ml.g5.xlarge"
    assert env["TRAINING_MAX_RUNTIME_SECONDS"] == "3600"
    assert env["MAX_PICKS"] == "3"
    assert env["GPU_MINUTES_BUDGET"] == "120"
    assert env["ARXIV_CATEGORIES"] == "cs.LG,cs.CL,cs.CV,cs.AI"
    assert env["BACKFILL_DAYS"] == "3"
    if "EVENT_BUS_NAME" in env:
        assert env["EVENT_BUS_NAME"] == "default"


def test_slack_function_environment(dev_resources):
    _, fn = _functions(dev_resources)["Slack"]
    env = fn["Properties"]["Environment"]["Variables"]
    assert set(env) == COMMON_ENV | {"SLACK_WEBHOOK_SECRET_ARN"}


def test_slack_is_optional(prod_minimal):
    fns = _functions(prod_minimal.template.to_json()["Resources"])
    assert set(fns) == set(HANDLERS) - {"Slack"}
    for _, fn in fns.values():
        assert "LLM_SECRET_ARN" not in fn["Properties"]["Environment"]["Variables"]


def test_slack_subscribes_to_topic_with_dlq(dev_template, dev_resources):
    slack_id, _ = _functions(dev_resources)["Slack"]
    dev_template.has_resource_properties(
        "AWS::SNS::Subscription",
        {
            "Protocol": "lambda",
            "Endpoint": {"Fn::GetAtt": [slack_id, "Arn"]},
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
            "FunctionResponseTypes": ["ReportBatchItemFailures"],
        },
    )


def test_async_functions_have_dlq_and_retry_limits(dev_template, dev_resources):
    fns = _functions(dev_resources)
    for name in ("Scrape", "Select", "Report", "Slack"):
        logical_id, fn = fns[name]
        assert fn["Properties"]["DeadLetterConfig"]["TargetArn"]["Fn::GetAtt"][0].startswith(
            "MessagingLambdaAsyncDlq"
        ), name
        dev_template.has_resource_properties(
            "AWS::Lambda::EventInvokeConfig",
            {"FunctionName": {"Ref": logical_id}, "MaximumRetryAttempts": 2},
        )


def _policy_statements(resources, role_prefix):
    statements = []
    for r in resources.values():
        if r["Type"] != "AWS::IAM::Policy":
            continue
        roles = [ref["Ref"] for ref in r["Properties"]["Roles"]]
        if any(role.startswith(role_prefix) for role in roles):
            statements += r["Properties"]["PolicyDocument"]["Statement"]
    return statements


# What IAM demands of every CreateTrainingJob, whatever the Lambda asks for.
TRAINING_JOB_CONDITIONS = {
    "Bool": {"sagemaker:NetworkIsolation": "true"},
    "Null": {"sagemaker:InstanceTypes": "false"},
    "ForAllValues:StringEquals": {"sagemaker:InstanceTypes": ["ml.g5.xlarge"]},
    "NumericLessThanEquals": {"sagemaker:MaxRuntimeInSeconds": "3600"},
}


@pytest.mark.parametrize("name", ["Select", "Report"])  # report starts repaired attempts
def test_training_jobs_can_only_be_started_isolated_and_bounded(dev_resources, name):
    statements = _policy_statements(dev_resources, f"Functions{name}ServiceRole")
    create = [s for s in statements if "sagemaker:CreateTrainingJob" in s["Action"]]
    assert len(create) == 1
    assert create[0]["Action"] == "sagemaker:CreateTrainingJob"  # nothing else rides along
    assert create[0]["Resource"] == "arn:aws:sagemaker:eu-west-1:111111111111:training-job/pf-*"
    assert create[0]["Condition"] == TRAINING_JOB_CONDITIONS
    # the other job actions carry no request keys, so they cannot share the conditions
    others = [
        s
        for s in statements
        if "sagemaker:AddTags" in s["Action"] or s["Action"] == "sagemaker:DescribeTrainingJob"
    ]
    assert others and all("Condition" not in s for s in others)
    assert {a for s in statements for a in _list(s["Action"]) if a.startswith("sagemaker:")} == {
        "sagemaker:CreateTrainingJob",
        "sagemaker:AddTags",
        "sagemaker:DescribeTrainingJob",
    }


def test_training_job_limits_follow_the_context(trainer_dir):
    from tests.infra.conftest import synth

    s = synth(trainer_dir, trainingInstanceType="ml.g4dn.xlarge", trainingMaxRuntimeMinutes=45)
    statements = _policy_statements(s.template.to_json()["Resources"], "FunctionsSelectServiceRole")
    (create,) = [s for s in statements if "sagemaker:CreateTrainingJob" in s["Action"]]
    assert create["Condition"]["ForAllValues:StringEquals"] == {
        "sagemaker:InstanceTypes": ["ml.g4dn.xlarge"]
    }
    assert create["Condition"]["NumericLessThanEquals"] == {"sagemaker:MaxRuntimeInSeconds": "2700"}
    assert create["Condition"]["Bool"] == {"sagemaker:NetworkIsolation": "true"}


def test_select_can_pass_only_the_sagemaker_role(dev_resources):
    statements = _policy_statements(dev_resources, "FunctionsSelectServiceRole")
    passrole = [s for s in statements if s["Action"] == "iam:PassRole"]
    assert len(passrole) == 1
    assert passrole[0]["Condition"] == {
        "StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}
    }
    assert passrole[0]["Resource"]["Fn::GetAtt"][0].startswith("TrainingSageMakerExecutionRole")


def _list(value):
    return value if isinstance(value, list) else [value]


def test_rank_may_put_events_on_default_bus_only(dev_resources):
    statements = _policy_statements(dev_resources, "FunctionsRankServiceRole")
    put = [s for s in statements if s["Action"] == "events:PutEvents"]
    assert len(put) == 1
    assert put[0]["Resource"] == "arn:aws:events:eu-west-1:111111111111:event-bus/default"


def test_report_may_publish_to_the_encrypted_topic(dev_resources):
    statements = _policy_statements(dev_resources, "FunctionsReportServiceRole")
    assert any(s["Action"] == "sns:Publish" for s in statements)
    kms = [s for s in statements if "kms:GenerateDataKey*" in s["Action"]]
    assert kms and all(s["Resource"]["Fn::GetAtt"][0].startswith("StorageDataKey") for s in kms)


def test_no_function_gets_bucket_wide_object_access(dev_resources):
    for name in HANDLERS:
        for s in _policy_statements(dev_resources, f"Functions{name}ServiceRole"):
            actions = s["Action"] if isinstance(s["Action"], list) else [s["Action"]]
            if not any(a.startswith("s3:") for a in actions):
                continue
            resources = s["Resource"] if isinstance(s["Resource"], list) else [s["Resource"]]
            for res in resources:
                if "Fn::Join" in res:
                    suffix = res["Fn::Join"][1][-1]
                    assert suffix.lstrip("/").split("/")[0] + "/" in {
                        "config/",
                        "days/",
                        "implementations/",
                        "training/",
                        "reports/",
                    }, (name, suffix)
                else:  # bare bucket ARN: ListBucket, always prefix-conditioned
                    assert s["Action"] == "s3:ListBucket" and "s3:prefix" in str(s["Condition"])


def _secret_readers(resources: dict) -> set[str]:
    """Roles whose policies allow reading a Secrets Manager secret."""
    readers = set()
    for r in resources.values():
        if r["Type"] != "AWS::IAM::Policy":
            continue
        for statement in r["Properties"]["PolicyDocument"]["Statement"]:
            actions = statement["Action"]
            actions = [actions] if isinstance(actions, str) else actions
            if "secretsmanager:GetSecretValue" in actions:
                readers.update(role["Ref"] for role in r["Properties"]["Roles"])
    return readers


def test_only_select_and_report_can_read_the_llm_secret(dev_resources):
    functions = _functions(dev_resources)
    role_of = {
        name: fn["Properties"]["Role"]["Fn::GetAtt"][0] for name, (_, fn) in functions.items()
    }
    readers = {name for name, role in role_of.items() if role in _secret_readers(dev_resources)}
    # Slack reads its own webhook secret; the LLM key reaches only the LLM callers
    assert readers - {"Slack"} == {"Select", "Report"}
    timeouts = {name: fn["Properties"]["Timeout"] for name, (_, fn) in functions.items()}
    assert timeouts["Select"] == 900 and timeouts["Report"] == 600
