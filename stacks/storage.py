"""Storage: the DynamoDB table, the artefact bucket (+ access-log bucket) and the data key."""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from cdk_nag import NagSuppressions
from constructs import Construct

# Key prefixes inside the artefact bucket (the domain code and the trainer rely on them).
PREFIX_CONFIG = "config/"
PREFIX_DAYS = "days/"
PREFIX_IMPLEMENTATIONS = "implementations/"
PREFIX_TRAINING = "training/"
PREFIX_CHECKPOINTS = "checkpoints/"
PREFIX_REPORTS = "reports/"
PREFIX_EMBEDDINGS = "embeddings/"  # paper embeddings, cached per model (ranking)
PREFIX_DATASETS = "datasets/"  # training data the harness does not bundle (CIFAR-10)
BUCKET_PREFIXES = (
    PREFIX_CONFIG,
    PREFIX_DAYS,
    PREFIX_IMPLEMENTATIONS,
    PREFIX_TRAINING,
    PREFIX_CHECKPOINTS,
    PREFIX_REPORTS,
    PREFIX_EMBEDDINGS,
    PREFIX_DATASETS,
)


class Storage(Construct):
    """Table + buckets.

    Encryption choices:
    * Table: customer-managed KMS key with rotation. Papers, rankings and verdicts are not
      secret, but a CMK gives a key policy we control and CloudTrail visibility of every
      decrypt, for ~$1/month.
    * Buckets: SSE-S3. The artefact bucket is read and written by SageMaker training jobs
      (output, checkpoints, spot resume); SSE-KMS would need the execution role and the
      job's VolumeKmsKeyId/OutputDataConfig wired to the key for no real confidentiality
      gain on public papers and generated code. Everything else (TLS only, no public
      access, versioning, access logs) is enforced. SSE-S3 also lets the report site's
      CloudFront distribution read reports/ through Origin Access Control without a key
      grant (stacks/site.py adds the bucket-policy statement for reports/* only).
    """

    def __init__(self, scope: Construct, construct_id: str, *, is_prod: bool) -> None:
        super().__init__(scope, construct_id)
        removal = RemovalPolicy.RETAIN if is_prod else RemovalPolicy.DESTROY

        self.data_key = kms.Key(
            self,
            "DataKey",
            description="paperfoundry data key (DynamoDB table, SNS topic)",
            enable_key_rotation=True,
            removal_policy=removal,
            pending_window=Duration.days(7 if not is_prod else 30),
        )

        self.table = dynamodb.Table(
            self,
            "Table",
            partition_key=dynamodb.Attribute(name="pk", type=dynamodb.AttributeType.STRING),
            sort_key=dynamodb.Attribute(name="sk", type=dynamodb.AttributeType.STRING),
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            encryption=dynamodb.TableEncryption.CUSTOMER_MANAGED,
            encryption_key=self.data_key,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            time_to_live_attribute="ttl",
            deletion_protection=is_prod,
            removal_policy=removal,
        )
        self.table.add_global_secondary_index(
            index_name="gsi1",
            partition_key=dynamodb.Attribute(name="gsi1pk", type=dynamodb.AttributeType.STRING),
            sort_key=dynamodb.Attribute(name="gsi1sk", type=dynamodb.AttributeType.STRING),
            projection_type=dynamodb.ProjectionType.ALL,
        )

        # Buckets are retained in every stage: a non-empty versioned bucket cannot be deleted
        # by CloudFormation anyway; docs/DEPLOY.md describes how to empty and remove them.
        self.access_log_bucket = s3.Bucket(
            self,
            "AccessLogBucket",
            encryption=s3.BucketEncryption.S3_MANAGED,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            lifecycle_rules=[
                s3.LifecycleRule(id="expire-access-logs", expiration=Duration.days(90))
            ],
            removal_policy=RemovalPolicy.RETAIN,
        )
        NagSuppressions.add_resource_suppressions(
            self.access_log_bucket,
            [
                {
                    "id": "AwsSolutions-S1",
                    "reason": "This is the server-access-log destination bucket; logging it to "
                    "itself would loop and another log bucket adds nothing.",
                }
            ],
        )

        self.bucket = s3.Bucket(
            self,
            "ArtifactBucket",
            encryption=s3.BucketEncryption.S3_MANAGED,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            versioned=True,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            server_access_logs_bucket=self.access_log_bucket,
            server_access_logs_prefix="artifact-bucket/",
            lifecycle_rules=[
                s3.LifecycleRule(
                    id="expire-checkpoints",
                    prefix=PREFIX_CHECKPOINTS,
                    expiration=Duration.days(14),
                    noncurrent_version_expiration=Duration.days(1),
                ),
                s3.LifecycleRule(
                    id="training-output-to-ia",
                    prefix=PREFIX_TRAINING,
                    transitions=[
                        s3.Transition(
                            storage_class=s3.StorageClass.INFREQUENT_ACCESS,
                            transition_after=Duration.days(30),
                        )
                    ],
                ),
                s3.LifecycleRule(
                    id="noncurrent-versions-and-uploads",
                    noncurrent_version_expiration=Duration.days(30),
                    abort_incomplete_multipart_upload_after=Duration.days(7),
                ),
            ],
            removal_policy=RemovalPolicy.RETAIN,
        )

    def bucket_prefix_arn(self, prefix: str) -> str:
        """ARN pattern for every object under one prefix, e.g. ``<bucket-arn>/days/*``."""
        if prefix not in BUCKET_PREFIXES:
            raise ValueError(f"unknown bucket prefix {prefix!r}")
        return self.bucket.arn_for_objects(f"{prefix}*")

    def grant_prefixes(
        self,
        grantee: iam.IGrantable,
        *,
        read: tuple[str, ...] = (),
        write: tuple[str, ...] = (),
    ) -> None:
        """Object-level access limited to bucket prefixes (instead of bucket.grant_read_write)."""
        statements: list[iam.PolicyStatement] = []
        if read:
            statements.append(
                iam.PolicyStatement(
                    actions=["s3:GetObject"],
                    resources=[self.bucket_prefix_arn(p) for p in read],
                )
            )
        if write:
            statements.append(
                iam.PolicyStatement(
                    actions=["s3:PutObject"],
                    resources=[self.bucket_prefix_arn(p) for p in write],
                )
            )
        listed = sorted(set(read) | set(write))
        if listed:
            statements.append(
                iam.PolicyStatement(
                    actions=["s3:ListBucket"],
                    resources=[self.bucket.bucket_arn],
                    conditions={"StringLike": {"s3:prefix": [f"{p}*" for p in listed]}},
                )
            )
        for statement in statements:
            grantee.grant_principal.add_to_principal_policy(statement)
