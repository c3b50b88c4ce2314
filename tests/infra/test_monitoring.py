"""Alarms and dashboard."""

import json


def _alarms(template):
    return template.find_resources("AWS::CloudWatch::Alarm")


def test_alarm_set(dev_template):
    alarms = _alarms(dev_template)
    by_metric = {}
    for a in alarms.values():
        by_metric.setdefault(a["Properties"]["MetricName"], []).append(a["Properties"])
    assert len(by_metric["ApproximateNumberOfMessagesVisible"]) == 3  # the three DLQs
    assert len(by_metric["Errors"]) == 5 and len(by_metric["Throttles"]) == 5
    assert len(by_metric["ApproximateAgeOfOldestMessage"]) == 1
    for props in (p for ps in by_metric.values() for p in ps):
        assert props["ComparisonOperator"] == "GreaterThanThreshold"
        assert props["TreatMissingData"] == "notBreaching"
        assert len(props["AlarmActions"]) == 1 and "Ref" in props["AlarmActions"][0]
    for props in by_metric["ApproximateNumberOfMessagesVisible"]:
        assert props["Threshold"] == 0 and props["Statistic"] == "Maximum"
    assert by_metric["ApproximateAgeOfOldestMessage"][0]["Threshold"] == 3600
    [llm] = by_metric["LlmUnavailable"]  # published by the select handler (Powertools EMF)
    assert llm["Namespace"] == "PaperFoundry" and llm["Threshold"] == 0
    assert llm["Dimensions"] == [{"Name": "service", "Value": "paperfoundry"}]


def test_dashboard(dev_template):
    dashboards = dev_template.find_resources("AWS::CloudWatch::Dashboard")
    assert len(dashboards) == 1
    props = next(iter(dashboards.values()))["Properties"]
    assert props["DashboardName"] == "paperfoundry-dev"
    body = json.dumps(props["DashboardBody"])
    for needle in ("Lambda invocations", "Papers queue", "Dead-letter queues", "Alarms",
                   "LLM spend today", "LlmSpendUsd", "ImplementationRepairs"):  # fmt: skip
        assert needle in body
