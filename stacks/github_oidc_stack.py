"""GitHubOidcStack: lets GitHub Actions deploy paperfoundry without long-lived AWS keys.

Deployed once per AWS account by a human (see docs/DEPLOY.md), never by the pipeline.

* OIDC provider for token.actions.githubusercontent.com, audience sts.amazonaws.com
  (or an existing one, via context `githubOidcProviderArn`; an account can hold only one).
* A deploy role whose trust policy accepts ONLY tokens whose `sub` is exactly
  `repo:<owner/name>:environment:<env>` for the configured environments. Branch, tag and
  pull_request tokens and other repositories are rejected; GitHub environment protection
  rules (required reviewers, branch filters) therefore gate every deployment.
* The role's only permission is to assume the CDK bootstrap roles of this account/region
  (deploy, file-publishing, image-publishing, lookup). The CDK CLI does the real work
  through those roles, whose permissions the bootstrap stack already defines and which
  CloudFormation uses via the bootstrap execution role. The GitHub role itself therefore
  cannot touch any resource directly, and nothing here needs updating when the app grows.
"""

from __future__ import annotations

from aws_cdk import Aws, CfnOutput, Duration, Stack
from aws_cdk import aws_iam as iam
from constructs import Construct

from stacks.config import AppConfig

GITHUB_OIDC_HOST = "token.actions.githubusercontent.com"
GITHUB_OIDC_AUDIENCE = "sts.amazonaws.com"
CDK_BOOTSTRAP_ROLE_KINDS = ("deploy", "file-publishing", "image-publishing", "lookup")


def github_subjects(repository: str, environments: tuple[str, ...]) -> list[str]:
    return [f"repo:{repository}:environment:{env}" for env in environments]


class GithubOidcStack(Stack):
    def __init__(self, scope: Construct, construct_id: str, *, config: AppConfig, **kwargs) -> None:
        super().__init__(scope, construct_id, **kwargs)
        if not config.github_repository:
            raise ValueError(
                "context 'githubRepository' (owner/name) is required for the OIDC stack"
            )
        if not config.github_environments:
            raise ValueError("context 'githubEnvironments' must name at least one environment")

        if config.github_oidc_provider_arn:
            provider_arn = config.github_oidc_provider_arn
        else:
            provider = iam.OidcProviderNative(
                self,
                "GithubOidcProvider",
                url=f"https://{GITHUB_OIDC_HOST}",
                client_ids=[GITHUB_OIDC_AUDIENCE],
            )
            provider_arn = provider.oidc_provider_arn

        subjects = github_subjects(config.github_repository, config.github_environments)
        self.deploy_role = iam.Role(
            self,
            "GithubDeployRole",
            description=f"GitHub Actions deploy role for {config.github_repository} "
            f"(environments: {', '.join(config.github_environments)})",
            max_session_duration=Duration.hours(1),
            assumed_by=iam.FederatedPrincipal(
                provider_arn,
                conditions={
                    "StringEquals": {
                        f"{GITHUB_OIDC_HOST}:aud": GITHUB_OIDC_AUDIENCE,
                        f"{GITHUB_OIDC_HOST}:sub": subjects,
                    }
                },
                assume_role_action="sts:AssumeRoleWithWebIdentity",
            ),
        )
        bootstrap_roles = [
            f"arn:{Aws.PARTITION}:iam::{Aws.ACCOUNT_ID}:role/"
            f"cdk-{config.cdk_qualifier}-{kind}-role-{Aws.ACCOUNT_ID}-{Aws.REGION}"
            for kind in CDK_BOOTSTRAP_ROLE_KINDS
        ]
        self.deploy_role.add_to_policy(
            iam.PolicyStatement(
                sid="AssumeCdkBootstrapRolesOnly",
                actions=["sts:AssumeRole", "sts:TagSession"],
                resources=bootstrap_roles,
            )
        )
        CfnOutput(
            self,
            "DeployRoleArn",
            value=self.deploy_role.role_arn,
            description="Set as the AWS_DEPLOY_ROLE_ARN variable of each GitHub environment",
        )
