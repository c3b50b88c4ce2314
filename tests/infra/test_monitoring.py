"""Alarms (all to the ops topic) and the dashboard."""

import json

import aws_cdk as cdk
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk.assertions import Template

from stacks.monitoring import APP_ALARMS, Monitoring


def _alarms(template):
    return [a["Properties"] for a in template.find_resources("AWS::CloudWatch::Alarm").values()]


def _ops_topic(template):
    [logical_id] = [
        k for k in template.find_resources("AWS::SNS::Topic") if k.startswith("MessagingOpsTopic")
    ]
    return logical_id


def _by_metric(template):
    by_metric = {}
    for props in _alarms(template):
        by_metric.setdefault(props["MetricName"], []).append(props)
    return by_metric


def test_every_alarm_notifies_the_ops_topic_only(dev_template):
    ops = _ops_topic(dev_template)
    alarms = _alarms(dev_template)
    assert alarms
    for props in alarms:
        assert props["AlarmActions"] == [{"Ref": ops}], props["MetricName"]
        assert props["TreatMissingData"] == "notBreaching"
        assert props["EvaluationPeriods"] == 1
        assert props["AlarmDescription"].startswith("paperfoundry-dev: ")


def test_state_machine_failures_alarm(dev_template):
    by_metric = _by_metric(dev_template)
    for name in ("ExecutionsFailed", "ExecutionsTimedOut", "ExecutionsAborted"):
        [alarm] = by_metric[name]
        assert alarm["Namespace"] == "AWS/States"
        assert alarm["Statistic"] == "Sum"
        assert (alarm["ComparisonOperator"], alarm["Threshold"]) == (
            "GreaterThanOrEqualToThreshold",
            1,
        )
        [dimension] = alarm["Dimensions"]
        assert dimension["Name"] == "StateMachineArn"
        assert dimension["Value"]["Ref"].startswith("Orchestration")


def test_app_metric_alarms(dev_template):
    by_metric = _by_metric(dev_template)
    assert set(APP_ALARMS) == {
        "DigestMissing",
        "SourceFailed",
        "TrainingJobsFailedToStart",
        "PublishFailed",
        "LlmUnavailable",
    }
    for name in APP_ALARMS:
        [alarm] = by_metric[name]  # emitted by the handlers with Powertools (EMF)
        assert alarm["Namespace"] == "PaperFoundry"
        assert alarm["Dimensions"] == [{"Name": "service", "Value": "paperfoundry"}]
        assert alarm["Statistic"] == "Sum" and alarm["Period"] == 300
        assert (alarm["ComparisonOperator"], alarm["Threshold"]) == (
            "GreaterThanOrEqualToThreshold",
            1,
        )


def test_queue_and_lambda_alarms(dev, dev_template):
    by_metric = _by_metric(dev_template)
    dlq_alarms = by_metric["ApproximateNumberOfMessagesVisible"]
    assert len(dlq_alarms) == len(dev.stack.messaging.dead_letter_queues) == 3
    for props in dlq_alarms:
        assert props["Statistic"] == "Maximum"
        assert (props["ComparisonOperator"], props["Threshold"]) == (
            "GreaterThanOrEqualToThreshold",
            1,
        )
    # the state machine's step functions are retried and alarmed through its executions
    alarmed = set(dev.stack.functions.all) - {"Scrape", "Day", "Llm", "Train"}
    assert len(by_metric["Errors"]) == len(by_metric["Throttles"]) == len(alarmed)
    [age] = by_metric["ApproximateAgeOfOldestMessage"]
    assert (age["ComparisonOperator"], age["Threshold"]) == ("GreaterThanThreshold", 3600)


def test_dashboard(dev_template):
    dashboards = dev_template.find_resources("AWS::CloudWatch::Dashboard")
    assert len(dashboards) == 1
    props = next(iter(dashboards.values()))["Properties"]
    assert props["DashboardName"] == "paperfoundry-dev"
    body = json.dumps(props["DashboardBody"])
    for needle in ("Lambda invocations", "Papers queue", "Dead-letter queues", "Alarms",
                   "Day executions", "ExecutionsSucceeded", "Pipeline failures",
                   "DigestMissing", "PublishFailed", "LLM spend today", "LlmSpendUsd",
                   "ImplementationRepairs"):  # fmt: skip
        assert needle in body, needle


def test_without_a_state_machine_there_are_no_execution_alarms():
    """Monitoring also stands alone (state_machine=None): app, queue and Lambda alarms."""
    stack = cdk.Stack(cdk.App(), "MonitoringOnly")
    queue = sqs.Queue(stack, "Papers")
    Monitoring(
        stack,
        "Monitoring",
        stage="dev",
        functions={},
        papers_queue=queue,
        dead_letter_queues={"PapersDlq": sqs.Queue(stack, "Dlq")},
        ops_topic=sns.Topic(stack, "Ops"),
    )
    names = sorted(a["MetricName"] for a in _alarms(Template.from_stack(stack)))
    assert names == sorted(
        [*APP_ALARMS, "ApproximateNumberOfMessagesVisible", "ApproximateAgeOfOldestMessage"]
    )
    assert "AWS/States" not in json.dumps(Template.from_stack(stack).to_json())


def test_a_state_machine_argument_adds_its_three_alarms():
    stack = cdk.Stack(cdk.App(), "WithMachine")
    machine = sfn.StateMachine(
        stack, "Machine", definition_body=sfn.DefinitionBody.from_chainable(sfn.Pass(stack, "P"))
    )
    Monitoring(
        stack,
        "Monitoring",
        stage="prod",
        functions={},
        papers_queue=sqs.Queue(stack, "Papers"),
        dead_letter_queues={},
        ops_topic=sns.Topic(stack, "Ops"),
        state_machine=machine,
    )
    states = [a for a in _alarms(Template.from_stack(stack)) if a["Namespace"] == "AWS/States"]
    assert sorted(a["MetricName"] for a in states) == [
        "ExecutionsAborted",
        "ExecutionsFailed",
        "ExecutionsTimedOut",
    ]
    for alarm in states:
        [dimension] = alarm["Dimensions"]
        assert dimension["Name"] == "StateMachineArn"
        assert dimension["Value"]["Ref"].startswith("Machine")
        assert alarm["AlarmDescription"].startswith("paperfoundry-prod: ")
