"""PaperFoundryStack: wires storage, messaging, training, functions, scheduling, monitoring."""

from __future__ import annotations

from pathlib import Path

from aws_cdk import CfnOutput, Stack, Tags
from constructs import Construct

from stacks.config import AppConfig
from stacks.functions import Functions
from stacks.messaging import Messaging
from stacks.monitoring import Monitoring
from stacks.scheduling import Scheduling
from stacks.storage import Storage
from stacks.training import Training

REPO_ROOT = Path(__file__).resolve().parents[1]


class PaperFoundryStack(Stack):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: AppConfig,
        lambdas_dir: Path = REPO_ROOT / "lambdas",
        trainer_dir: Path = REPO_ROOT / "containers" / "trainer",
        powertools_version: str = "latest",
        **kwargs,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        Tags.of(self).add("project", "paperfoundry")
        Tags.of(self).add("stage", config.stage)

        self.storage = Storage(self, "Storage", is_prod=config.is_prod)
        self.messaging = Messaging(
            self,
            "Messaging",
            data_key=self.storage.data_key,
            notification_email=config.notification_email,
        )
        self.training = Training(
            self,
            "Training",
            storage=self.storage,
            image_directory=trainer_dir,
            base_image=config.trainer_base_image,
        )
        self.functions = Functions(
            self,
            "Functions",
            config=config,
            lambdas_dir=lambdas_dir,
            storage=self.storage,
            messaging=self.messaging,
            training=self.training,
            powertools_version=powertools_version,
        )
        self.scheduling = Scheduling(
            self,
            "Scheduling",
            config=config,
            scrape=self.functions.scrape,
            select=self.functions.select,
            report=self.functions.report,
            delivery_dlq=self.messaging.delivery_dlq,
        )
        self.monitoring = Monitoring(
            self,
            "Monitoring",
            stage=config.stage,
            functions=self.functions.all,
            papers_queue=self.messaging.papers_queue,
            dead_letter_queues=self.messaging.dead_letter_queues,
            topic=self.messaging.topic,
        )

        CfnOutput(self, "TableName", value=self.storage.table.table_name)
        CfnOutput(self, "BucketName", value=self.storage.bucket.bucket_name)
        CfnOutput(self, "TopicArn", value=self.messaging.topic.topic_arn)
        CfnOutput(self, "SageMakerRoleArn", value=self.training.role.role_arn)
        CfnOutput(self, "TrainerImageUri", value=self.training.image.image_uri)
        CfnOutput(self, "DashboardName", value=self.monitoring.dashboard.dashboard_name)
        CfnOutput(self, "ScrapeFunctionName", value=self.functions.scrape.function_name)
        CfnOutput(self, "SelectFunctionName", value=self.functions.select.function_name)
