"""Queues, DLQs and the notification topic."""

from aws_cdk.assertions import Match


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


def test_topic_is_kms_encrypted(dev_template):
    dev_template.resource_count_is("AWS::SNS::Topic", 1)
    dev_template.has_resource_properties(
        "AWS::SNS::Topic",
        {"KmsMasterKeyId": {"Fn::GetAtt": [Match.string_like_regexp("DataKey"), "Arn"]}},
    )


def test_email_subscription_only_when_configured(dev_template, prod_minimal):
    dev_template.has_resource_properties(
        "AWS::SNS::Subscription", {"Protocol": "email", "Endpoint": "alerts@example.org"}
    )
    assert not prod_minimal.template.find_resources(
        "AWS::SNS::Subscription", {"Properties": {"Protocol": "email"}}
    )


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
