"""DynamoDB table, artefact bucket, access-log bucket, data key."""

from aws_cdk.assertions import Match

from stacks.storage import BUCKET_PREFIXES


def test_table_schema_and_protection(dev_template):
    dev_template.resource_count_is("AWS::DynamoDB::Table", 1)
    dev_template.has_resource_properties(
        "AWS::DynamoDB::Table",
        {
            "KeySchema": [
                {"AttributeName": "pk", "KeyType": "HASH"},
                {"AttributeName": "sk", "KeyType": "RANGE"},
            ],
            "AttributeDefinitions": Match.array_with(
                [
                    {"AttributeName": "pk", "AttributeType": "S"},
                    {"AttributeName": "sk", "AttributeType": "S"},
                    {"AttributeName": "gsi1pk", "AttributeType": "S"},
                    {"AttributeName": "gsi1sk", "AttributeType": "S"},
                ]
            ),
            "BillingMode": "PAY_PER_REQUEST",
            "GlobalSecondaryIndexes": [
                {
                    "IndexName": "gsi1",
                    "KeySchema": [
                        {"AttributeName": "gsi1pk", "KeyType": "HASH"},
                        {"AttributeName": "gsi1sk", "KeyType": "RANGE"},
                    ],
                    "Projection": {"ProjectionType": "ALL"},
                }
            ],
            "TimeToLiveSpecification": {"AttributeName": "ttl", "Enabled": True},
            "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True},
            "SSESpecification": {
                "SSEEnabled": True,
                "SSEType": "KMS",
                "KMSMasterKeyId": {"Fn::GetAtt": [Match.string_like_regexp("DataKey"), "Arn"]},
            },
        },
    )


def test_data_key_rotates(dev_template):
    dev_template.has_resource_properties("AWS::KMS::Key", {"EnableKeyRotation": True})


def test_prod_table_is_protected_and_retained(prod_minimal):
    prod_minimal.template.has_resource(
        "AWS::DynamoDB::Table",
        {
            "Properties": Match.object_like({"DeletionProtectionEnabled": True}),
            "DeletionPolicy": "Retain",
            "UpdateReplacePolicy": "Retain",
        },
    )


def test_dev_table_is_not_deletion_protected(dev_template):
    dev_template.has_resource_properties(
        "AWS::DynamoDB::Table", {"DeletionProtectionEnabled": False}
    )


def _artifact_bucket(resources):
    buckets = {
        k: r
        for k, r in resources.items()
        if r["Type"] == "AWS::S3::Bucket" and "ArtifactBucket" in k
    }
    assert len(buckets) == 1, buckets.keys()
    return next(iter(buckets.items()))


def test_artifact_bucket_hardening(dev_template, dev_resources):
    logical_id, bucket = _artifact_bucket(dev_resources)
    props = bucket["Properties"]
    assert bucket["DeletionPolicy"] == "Retain"
    assert props["BucketEncryption"] == {
        "ServerSideEncryptionConfiguration": [
            {"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}
        ]
    }
    assert props["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True,
        "BlockPublicPolicy": True,
        "IgnorePublicAcls": True,
        "RestrictPublicBuckets": True,
    }
    assert props["VersioningConfiguration"] == {"Status": "Enabled"}
    assert props["LoggingConfiguration"]["LogFilePrefix"] == "artifact-bucket/"
    assert "Ref" in props["LoggingConfiguration"]["DestinationBucketName"]

    rules = {r["Id"]: r for r in props["LifecycleConfiguration"]["Rules"]}
    assert rules["expire-checkpoints"]["Prefix"] == "checkpoints/"
    assert rules["expire-checkpoints"]["ExpirationInDays"] == 14
    assert rules["noncurrent-versions-and-uploads"]["NoncurrentVersionExpiration"] == {
        "NoncurrentDays": 30
    }
    assert rules["noncurrent-versions-and-uploads"]["AbortIncompleteMultipartUpload"] == {
        "DaysAfterInitiation": 7
    }

    # enforce_ssl: a Deny on aws:SecureTransport=false in the bucket policy.
    dev_template.has_resource_properties(
        "AWS::S3::BucketPolicy",
        {
            "Bucket": {"Ref": logical_id},
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [
                        Match.object_like(
                            {
                                "Effect": "Deny",
                                "Action": "s3:*",
                                "Principal": {"AWS": "*"},
                                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                            }
                        )
                    ]
                )
            },
        },
    )


def _ssl_only(resources: dict, bucket_id: str) -> bool:
    """The bucket's policy denies every request not made over TLS (enforce_ssl)."""
    return any(
        r["Properties"]["Bucket"] == {"Ref": bucket_id}
        and any(
            s["Effect"] == "Deny"
            and s["Action"] == "s3:*"
            and s["Principal"] == {"AWS": "*"}
            and s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
            for s in r["Properties"]["PolicyDocument"]["Statement"]
        )
        for r in resources.values()
        if r["Type"] == "AWS::S3::BucketPolicy"
    )


BLOCK_ALL = {
    "BlockPublicAcls": True,
    "BlockPublicPolicy": True,
    "IgnorePublicAcls": True,
    "RestrictPublicBuckets": True,
}


def test_access_log_buckets_are_private_and_ssl_only(dev_resources):
    logs = {
        k: r
        for k, r in dev_resources.items()
        if r["Type"] == "AWS::S3::Bucket" and "AccessLogBucket" in k
    }
    # Storage's server-access-log bucket, and the site's CloudFront log bucket (stacks/site.py)
    (storage_id,) = [k for k in logs if k.startswith("StorageAccessLogBucket")]
    (site_id,) = [k for k in logs if k.startswith("SiteAccessLogBucket")]
    assert set(logs) == {storage_id, site_id}

    props = logs[storage_id]["Properties"]
    assert props["PublicAccessBlockConfiguration"] == BLOCK_ALL
    assert props["BucketEncryption"]["ServerSideEncryptionConfiguration"][0][
        "ServerSideEncryptionByDefault"
    ] == {"SSEAlgorithm": "AES256"}
    # the artefact bucket's access logs land here
    (artifact_id, _) = _artifact_bucket(dev_resources)
    artifact_logging = dev_resources[artifact_id]["Properties"]["LoggingConfiguration"]
    assert artifact_logging["DestinationBucketName"] == {"Ref": storage_id}
    assert _ssl_only(dev_resources, storage_id)

    site = logs[site_id]["Properties"]
    assert site["PublicAccessBlockConfiguration"] == BLOCK_ALL
    assert site["BucketEncryption"]["ServerSideEncryptionConfiguration"][0][
        "ServerSideEncryptionByDefault"
    ] == {"SSEAlgorithm": "AES256"}
    assert _ssl_only(dev_resources, site_id)


def test_bucket_prefixes_contract():
    assert BUCKET_PREFIXES == (
        "config/",
        "days/",
        "implementations/",
        "training/",
        "checkpoints/",
        "reports/",
        "embeddings/",
        "datasets/",
    )
    from paperfoundry.ranking.embeddings import cache_key

    assert cache_key("text-embedding-3-small", "2402.18668").startswith("embeddings/")
