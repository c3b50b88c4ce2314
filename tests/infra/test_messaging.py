"""Queues, DLQs, the digest topic and the ops (alarm) topic."""

import aws_cdk as cdk
from aws_cdk.assertions import Annotations, Match

from stacks.messaging import Messaging
from stacks.storage import Storage
from tests.infra.conftest import cdk_json_context


def _queues(resources):
    return {k: r for k, r in resources.items() if r["Type"] == "AWS::SQS::Queue"}


def test_every_queue_is_encrypted_and_ssl_only(dev_template, dev_resources):
    queues = _queues(dev_resources)
    assert len(queues) == 4  # papers + papers DLQ + Lambda async DLQ + delivery DLQ
    for logical_id, queue in queues.items():
        assert queue["Properties"].get("SqsManagedSseEnabled") is True, logical_id
        dev_template.has_resource_properties(
            "AWS::SQS::QueuePolicy",
            {
                "Queues": [{"Ref": logical_id}],
                "PolicyDocument": {
                    "Statement": Match.array_with(
                        [
                            Match.object_like(
                                {
                                    "Effect": "Deny",
                                    "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                                }
                            )
                        ]
                    )
                },
            },
        )


def test_papers_queue_redrives_to_dlq_after_three_receives(dev_resources):
    papers = [r for k, r in _queues(dev_resources).items() if k.startswith("MessagingPapersQueue")]
    assert len(papers) == 1
    props = papers[0]["Properties"]
    assert props["RedrivePolicy"]["maxReceiveCount"] == 3
    assert props["RedrivePolicy"]["deadLetterTargetArn"]["Fn::GetAtt"][0].startswith(
        "MessagingPapersDlq"
    )
    # >= 6x the rank Lambda timeout (120 s)
    assert props["VisibilityTimeout"] >= 720


def _topic_id(template, prefix):
    [logical_id] = [k for k in template.find_resources("AWS::SNS::Topic") if k.startswith(prefix)]
    return logical_id


def test_both_topics_are_kms_encrypted_and_tls_only(dev_template):
    topics = dev_template.find_resources("AWS::SNS::Topic")
    assert len(topics) == 2  # digest + ops
    for logical_id, topic in topics.items():
        key = topic["Properties"]["KmsMasterKeyId"]["Fn::GetAtt"]
        assert key[0].startswith("StorageDataKey") and key[1] == "Arn", logical_id
        dev_template.has_resource_properties(
            "AWS::SNS::TopicPolicy",
            {
                "Topics": [{"Ref": logical_id}],
                "PolicyDocument": {
                    "Statement": Match.array_with(
                        [
                            Match.object_like(
                                {
                                    "Effect": "Deny",
                                    "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                                }
                            )
                        ]
                    )
                },
            },
        )


def test_digest_and_alarm_emails_go_to_their_own_topics(dev_template):
    digest = _topic_id(dev_template, "MessagingNotificationTopic")
    ops = _topic_id(dev_template, "MessagingOpsTopic")
    emails = {
        s["Properties"]["Endpoint"]: s["Properties"]["TopicArn"]["Ref"]
        for s in dev_template.find_resources(
            "AWS::SNS::Subscription", {"Properties": {"Protocol": "email"}}
        ).values()
    }
    assert emails == {"alerts@example.org": digest, "ops@example.org": ops}


def test_prod_minimal_has_only_the_alarm_subscription(prod_minimal):
    template = prod_minimal.template
    ops = _topic_id(template, "MessagingOpsTopic")
    subscriptions = [
        (s["Properties"]["Protocol"], s["Properties"]["TopicArn"]["Ref"])
        for s in template.find_resources("AWS::SNS::Subscription").values()
    ]
    assert subscriptions == [("email", ops)]


def test_dev_without_alarm_email_warns_at_synth():
    stack = cdk.Stack(cdk.App(context=cdk_json_context()), "MessagingOnly")
    storage = Storage(stack, "Storage", is_prod=False)
    Messaging(stack, "Messaging", data_key=storage.data_key, notification_email=None)
    [warning] = Annotations.from_stack(stack).find_warning(
        "*", Match.string_like_regexp("No alarm subscriber")
    )
    assert "alarmEmail" in str(warning.entry.data)


def test_cloudwatch_may_use_the_topic_key(dev_template):
    dev_template.has_resource_properties(
        "AWS::KMS::Key",
        {
            "KeyPolicy": {
                "Statement": Match.array_with(
                    [
                        Match.object_like(
                            {
                                "Principal": {"Service": "cloudwatch.amazonaws.com"},
                                "Action": ["kms:Decrypt", "kms:GenerateDataKey*"],
                            }
                        )
                    ]
                )
            }
        },
    )
