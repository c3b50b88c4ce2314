"""EventBridge Scheduler: the morning start of the day's execution and the digest watchdog.

The day itself runs in the state machine, so no EventBridge rule is left (no DayRanked
event, no SageMaker state-change rule: createTrainingJob.sync waits for the job)."""

from __future__ import annotations

import json
import re

import pytest

from tests.infra.conftest import cdk_json_context, synth

OVERRIDES = {
    "scrapeSchedule": "cron(30 6 * * ? *)",
    "digestDeadline": "cron(0 10 ? * MON-SAT *)",
    "scheduleTimezone": "Europe/Berlin",
    "githubRepository": None,
    "slackWebhookSecretName": None,
}


def _schedules(resources: dict) -> dict[str, dict]:
    """target function name (Start, Watchdog, ...) -> schedule properties."""
    by_target = {}
    for r in resources.values():
        if r["Type"] != "AWS::Scheduler::Schedule":
            continue
        target = r["Properties"]["Target"]["Arn"]["Fn::GetAtt"]
        match = re.fullmatch(r"Functions([A-Za-z]+)[0-9A-F]{8}", target[0])
        assert match and target[1] == "Arn", target
        assert match.group(1) not in by_target
        by_target[match.group(1)] = r["Properties"]
    return by_target


def _scheduler_roles(resources: dict) -> list[str]:
    return [
        k
        for k, r in resources.items()
        if r["Type"] == "AWS::IAM::Role"
        and any(
            "scheduler.amazonaws.com" in json.dumps(s["Principal"])
            for s in r["Properties"]["AssumeRolePolicyDocument"]["Statement"]
        )
    ]


@pytest.fixture(scope="module")
def overridden(trainer_dir):
    return synth(trainer_dir, **OVERRIDES).template.to_json()["Resources"]


def test_two_schedules_start_and_watchdog(dev_resources):
    context = cdk_json_context()
    schedules = _schedules(dev_resources)
    assert set(schedules) == {"Start", "Watchdog"}
    assert schedules["Start"]["ScheduleExpression"] == context["scrapeSchedule"]
    assert schedules["Watchdog"]["ScheduleExpression"] == context["digestDeadline"]
    (role,) = _scheduler_roles(dev_resources)
    for props in schedules.values():
        assert props["ScheduleExpressionTimezone"] == context["scheduleTimezone"] == "UTC"
        assert props["FlexibleTimeWindow"] == {"Mode": "OFF"}
        assert props["State"] == "ENABLED"
        target = props["Target"]
        assert target["RoleArn"] == {"Fn::GetAtt": [role, "Arn"]}
        assert target["DeadLetterConfig"]["Arn"]["Fn::GetAtt"][0].startswith("MessagingDeliveryDlq")
        assert target["RetryPolicy"] == {
            "MaximumRetryAttempts": 3,
            "MaximumEventAgeInSeconds": 2 * 3600,
        }


def test_start_accepts_the_scheduled_input(dev_resources):
    """The start handler parses the schedule's input (a rejected input = no day at all)."""
    from handlers._events import StartRequest

    payload = json.loads(_schedules(dev_resources)["Start"]["Target"]["Input"])
    request = StartRequest.model_validate(payload)
    assert request.day is None and request.backfill_days is None  # today + backfill


def test_schedule_context_overrides(overridden):
    schedules = _schedules(overridden)
    assert {name: p["ScheduleExpression"] for name, p in schedules.items()} == {
        "Start": OVERRIDES["scrapeSchedule"],
        "Watchdog": OVERRIDES["digestDeadline"],
    }
    assert {p["ScheduleExpressionTimezone"] for p in schedules.values()} == {"Europe/Berlin"}


@pytest.mark.parametrize("fixture", ["dev_resources", "prod_minimal"])
def test_no_eventbridge_rules_remain(request, fixture):
    value = request.getfixturevalue(fixture)
    resources = value if isinstance(value, dict) else value.template.to_json()["Resources"]
    rules = [k for k, r in resources.items() if r["Type"] == "AWS::Events::Rule"]
    assert rules == []  # no DayRanked rule, no SageMaker state-change rule
    # ... and nothing lets EventBridge invoke a function any more
    principals = {
        r["Properties"]["Principal"]
        for r in resources.values()
        if r["Type"] == "AWS::Lambda::Permission"
    }
    assert "events.amazonaws.com" not in principals


def test_scheduler_role_invokes_only_start_and_watchdog(dev_resources):
    (role,) = _scheduler_roles(dev_resources)
    trust = dev_resources[role]["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert [s["Condition"] for s in trust] == [
        {"StringEquals": {"aws:SourceAccount": "111111111111"}}
    ]
    assert "ManagedPolicyArns" not in dev_resources[role]["Properties"]
    assert "Policies" not in dev_resources[role]["Properties"]
    statements = [
        s
        for r in dev_resources.values()
        if r["Type"] == "AWS::IAM::Policy" and {"Ref": role} in r["Properties"]["Roles"]
        for s in r["Properties"]["PolicyDocument"]["Statement"]
    ]
    by_action = {}
    for s in statements:
        assert s["Effect"] == "Allow" and "Condition" not in s
        actions = s["Action"] if isinstance(s["Action"], list) else [s["Action"]]
        resources = s["Resource"] if isinstance(s["Resource"], list) else [s["Resource"]]
        for action in actions:
            by_action.setdefault(action, []).extend(resources)
    assert set(by_action) == {"lambda:InvokeFunction", "sqs:SendMessage"}

    def function_of(resource) -> str:
        arn = resource["Fn::Join"][1][0] if "Fn::Join" in resource else resource
        if "Fn::Join" in resource:
            assert resource["Fn::Join"][1][1] == ":*"  # the function's versions/aliases
        return re.fullmatch(r"Functions([A-Za-z]+)[0-9A-F]{8}", arn["Fn::GetAtt"][0]).group(1)

    invoked = [function_of(r) for r in by_action["lambda:InvokeFunction"]]
    assert sorted(invoked) == ["Start", "Start", "Watchdog", "Watchdog"]
    (dlq,) = by_action["sqs:SendMessage"]
    assert dlq["Fn::GetAtt"][0].startswith("MessagingDeliveryDlq")
