"""Training: the trainer container image and the SageMaker execution role.

The role is the only identity generated code ever runs under (inside a network-isolated
training container), so it gets exactly: read the implementation + day inputs, write its
output and checkpoints, read the datasets it trains on (`data` channel), pull its image,
write its logs/metrics. Nothing else.
"""

from __future__ import annotations

from pathlib import Path

from aws_cdk import Aws, Stack
from aws_cdk import aws_ecr_assets as ecr_assets
from aws_cdk import aws_iam as iam
from cdk_nag import NagSuppressions
from constructs import Construct

from stacks import nag
from stacks.storage import (
    PREFIX_CHECKPOINTS,
    PREFIX_DATASETS,
    PREFIX_DAYS,
    PREFIX_IMPLEMENTATIONS,
    PREFIX_TRAINING,
    Storage,
)

TRAINING_JOB_PREFIX = "pf-"
SAGEMAKER_LOG_GROUP = "/aws/sagemaker/TrainingJobs"
# The AWS Deep Learning Container for PyTorch training on SageMaker (GPU, Python 3.12),
# from its ECR Public mirror: `cdk deploy` builds the trainer on the deploying machine,
# which can pull public images without logging in to AWS's private DLC registry.
DEFAULT_BASE_IMAGE = (
    "public.ecr.aws/deep-learning-containers/pytorch-training:"
    "2.9.0-gpu-py312-cu130-ubuntu22.04-sagemaker"
)


class Training(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        storage: Storage,
        image_directory: Path,
        base_image: str | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)

        # Built and pushed to the CDK bootstrap ECR repository by `cdk deploy` (needs Docker
        # on the deploying machine/runner); synth only fingerprints the directory.
        self.base_image = base_image or DEFAULT_BASE_IMAGE
        self.image = ecr_assets.DockerImageAsset(
            self,
            "TrainerImage",
            directory=str(image_directory),
            platform=ecr_assets.Platform.LINUX_AMD64,
            build_args={"BASE_IMAGE": self.base_image},
            exclude=["**/__pycache__", "**/*.pyc", "**/.pytest_cache", "tests"],
        )

        self.role = iam.Role(
            self,
            "SageMakerExecutionRole",
            assumed_by=iam.ServicePrincipal(
                "sagemaker.amazonaws.com",
                conditions={"StringEquals": {"aws:SourceAccount": stack.account}},
            ),
            description="paperfoundry SageMaker training jobs (network-isolated trainer)",
        )
        # Inputs. Checkpoints are read too: a resumed spot job downloads them again.
        storage.grant_prefixes(
            self.role,
            read=(PREFIX_IMPLEMENTATIONS, PREFIX_DAYS, PREFIX_CHECKPOINTS, PREFIX_DATASETS),
            write=(PREFIX_TRAINING, PREFIX_CHECKPOINTS),
        )
        # Image pull from the asset repository (+ ecr:GetAuthorizationToken, account-wide).
        self.image.repository.grant_pull(self.role)
        log_group_arn = (
            f"arn:{Aws.PARTITION}:logs:{stack.region}:{stack.account}:log-group:"
            f"{SAGEMAKER_LOG_GROUP}"
        )
        self.role.add_to_policy(
            iam.PolicyStatement(
                actions=["logs:CreateLogGroup"],
                resources=[log_group_arn, f"{log_group_arn}:*"],
            )
        )
        self.role.add_to_policy(
            iam.PolicyStatement(
                actions=["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"],
                resources=[f"{log_group_arn}:log-stream:{TRAINING_JOB_PREFIX}*"],
            )
        )
        self.role.add_to_policy(
            iam.PolicyStatement(
                actions=["cloudwatch:PutMetricData"],
                resources=["*"],
                conditions={"StringEquals": {"cloudwatch:namespace": SAGEMAKER_LOG_GROUP}},
            )
        )

        NagSuppressions.add_resource_suppressions(
            self.role,
            [
                {
                    "id": "AwsSolutions-IAM5",
                    "reason": "Wildcards are limited to object keys under the bucket prefixes "
                    "implementations/, days/, training/, checkpoints/, datasets/; log streams "
                    "of pf-* jobs in /aws/sagemaker/TrainingJobs; ecr:GetAuthorizationToken and "
                    "cloudwatch:PutMetricData (condition-scoped to the SageMaker namespace) "
                    "support no resource-level permissions.",
                    "appliesTo": [
                        nag.bucket_objects(
                            (
                                PREFIX_IMPLEMENTATIONS,
                                PREFIX_DAYS,
                                PREFIX_TRAINING,
                                PREFIX_CHECKPOINTS,
                                PREFIX_DATASETS,
                            )
                        ),
                        nag.arn(
                            "logs", r"log-group:/aws/sagemaker/TrainingJobs:(\*|log-stream:pf-\*)"
                        ),
                        "Resource::*",
                    ],
                }
            ],
            apply_to_children=True,
        )
