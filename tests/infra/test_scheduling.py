"""Scheduler schedules and EventBridge rules."""

from aws_cdk.assertions import Match


def _schedules(template):
    return template.find_resources("AWS::Scheduler::Schedule")


def _target_prefix(arn):
    return arn["Fn::GetAtt"][0]


def test_two_schedules_scrape_and_select_timeout(dev_template):
    schedules = list(_schedules(dev_template).values())
    assert len(schedules) == 2
    by_target = {
        _target_prefix(s["Properties"]["Target"]["Arn"]): s["Properties"] for s in schedules
    }
    scrape = next(p for k, p in by_target.items() if k.startswith("FunctionsScrape"))
    select = next(p for k, p in by_target.items() if k.startswith("FunctionsSelect"))

    assert scrape["ScheduleExpression"] == "cron(0 7 ? * MON-FRI *)"
    assert select["ScheduleExpression"] == "cron(0 11 ? * MON-FRI *)"
    for props in (scrape, select):
        assert props["ScheduleExpressionTimezone"] == "UTC"
        assert props["FlexibleTimeWindow"] == {"Mode": "OFF"}
        assert props["Target"]["DeadLetterConfig"]["Arn"]["Fn::GetAtt"][0].startswith(
            "MessagingDeliveryDlq"
        )
        assert props["Target"]["RetryPolicy"]["MaximumRetryAttempts"] == 3
    assert select["Target"]["Input"] == '{"trigger":"timeout"}'


def test_schedule_context_overrides(trainer_dir):
    from tests.infra.conftest import synth

    s = synth(
        trainer_dir,
        scrapeSchedule="cron(30 6 * * ? *)",
        selectTimeoutSchedule="cron(0 10 * * ? *)",
        scheduleTimezone="Europe/Berlin",
        githubRepository=None,
        slackWebhookSecretName=None,
    )
    expressions = sorted(
        (p["Properties"]["ScheduleExpression"], p["Properties"]["ScheduleExpressionTimezone"])
        for p in _schedules(s.template).values()
    )
    assert expressions == [
        ("cron(0 10 * * ? *)", "Europe/Berlin"),
        ("cron(30 6 * * ? *)", "Europe/Berlin"),
    ]


def test_day_ranked_rule_targets_select(dev_template):
    dev_template.has_resource_properties(
        "AWS::Events::Rule",
        {
            "EventPattern": {"source": ["paperfoundry"], "detail-type": ["DayRanked"]},
            "State": "ENABLED",
            "Targets": [
                Match.object_like(
                    {
                        "Arn": {"Fn::GetAtt": [Match.string_like_regexp("FunctionsSelect"), "Arn"]},
                        "DeadLetterConfig": Match.any_value(),
                        "RetryPolicy": Match.any_value(),
                    }
                )
            ],
        },
    )
    # default bus: no EventBusName property
    rules = dev_template.find_resources("AWS::Events::Rule")
    assert all("EventBusName" not in r["Properties"] for r in rules.values())


def test_sagemaker_state_change_rule_targets_report(dev_template):
    dev_template.has_resource_properties(
        "AWS::Events::Rule",
        {
            "EventPattern": {
                "source": ["aws.sagemaker"],
                "detail-type": ["SageMaker Training Job State Change"],
                "detail": {
                    "TrainingJobStatus": ["Completed", "Failed", "Stopped"],
                    "TrainingJobName": [{"prefix": "pf-"}],
                },
            },
            "Targets": [
                Match.object_like(
                    {"Arn": {"Fn::GetAtt": [Match.string_like_regexp("FunctionsReport"), "Arn"]}}
                )
            ],
        },
    )


def test_scheduler_role_only_invokes_scrape_and_select(dev_template):
    roles = dev_template.find_resources(
        "AWS::IAM::Role",
        {
            "Properties": {
                "AssumeRolePolicyDocument": {
                    "Statement": [
                        Match.object_like({"Principal": {"Service": "scheduler.amazonaws.com"}})
                    ]
                }
            }
        },
    )
    assert len(roles) == 1
