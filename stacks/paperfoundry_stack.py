"""PaperFoundryStack: wires storage, messaging, training, functions, the day's state machine,
scheduling and monitoring."""

from __future__ import annotations

from pathlib import Path

from aws_cdk import CfnOutput, Stack, Tags
from constructs import Construct

from stacks.config import AppConfig
from stacks.functions import Functions
from stacks.messaging import Messaging
from stacks.monitoring import Monitoring
from stacks.orchestration import Orchestration
from stacks.scheduling import Scheduling
from stacks.site import Site
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
        # The reports behind CloudFront (site.url); without it the digest links presigned URLs.
        self.site: Site | None = None
        if config.site:
            self.site = Site(
                self,
                "Site",
                bucket=self.storage.bucket,
                allow_cidrs=config.site_allow_cidrs,
            )
        self.messaging = Messaging(
            self,
            "Messaging",
            data_key=self.storage.data_key,
            notification_email=config.notification_email,
            alarm_email=config.alarm_email,
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
            site_url=self.site.url if self.site is not None else None,
            powertools_version=powertools_version,
        )
        self.orchestration = Orchestration(
            self,
            "Orchestration",
            functions=self.functions.steps,
            digest_topic=self.messaging.topic,
            training_role=self.training.role,
            instance_types=config.training_instance_types_used,
            max_runtime_seconds=config.training_max_runtime_minutes * 60,
            is_prod=config.is_prod,
            max_picks=config.max_picks or 3,  # picks trained at once (the config's default)
        )
        self.functions.wire_state_machine(self.orchestration.state_machine)
        self.scheduling = Scheduling(
            self,
            "Scheduling",
            config=config,
            start=self.functions.start,
            watchdog=self.functions.watchdog,
            delivery_dlq=self.messaging.delivery_dlq,
        )
        self.monitoring = Monitoring(
            self,
            "Monitoring",
            stage=config.stage,
            functions=self.functions.all,
            papers_queue=self.messaging.papers_queue,
            dead_letter_queues=self.messaging.dead_letter_queues,
            ops_topic=self.messaging.ops_topic,
            state_machine=self.orchestration.state_machine,
            orchestrated=frozenset(("Scrape", "Day", "Llm", "Train")),
        )

        CfnOutput(self, "TableName", value=self.storage.table.table_name)
        CfnOutput(self, "BucketName", value=self.storage.bucket.bucket_name)
        CfnOutput(self, "TopicArn", value=self.messaging.topic.topic_arn)
        CfnOutput(self, "OpsTopicArn", value=self.messaging.ops_topic.topic_arn)
        if self.site is not None:
            CfnOutput(self, "SiteUrl", value=self.site.url)
        CfnOutput(self, "SageMakerRoleArn", value=self.training.role.role_arn)
        CfnOutput(self, "TrainerImageUri", value=self.training.image.image_uri)
        CfnOutput(self, "DashboardName", value=self.monitoring.dashboard.dashboard_name)
        CfnOutput(self, "StateMachineArn", value=self.orchestration.state_machine.state_machine_arn)
        CfnOutput(self, "StartFunctionName", value=self.functions.start.function_name)
