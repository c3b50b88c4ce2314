"""Shared fixtures: synthesise the app once per test session, fully offline.

* bundling is skipped with the context {"aws:cdk:bundling-stacks": []}, so no pip / Docker;
* the trainer image asset only needs a directory with a Dockerfile: the real
  containers/trainer when it exists, otherwise a stub in a temp dir;
* the Powertools layer ARN is an SSM-parameter reference resolved at deploy time;
* `@aws-cdk/core:annotationsInValidationReport` is turned off so cdk-nag findings stay
  annotations we can list in assertions (with it on, synth raises on the first error).
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # `pytest` (not `python -m pytest`) does not add the repo root
    sys.path.insert(0, str(ROOT))

os.environ.setdefault("JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION", "1")
os.environ.setdefault("JSII_SILENCE_WARNING_UNTESTED_NODE_VERSION", "1")

import aws_cdk as cdk  # noqa: E402
from aws_cdk.assertions import Template  # noqa: E402
from cdk_nag import AwsSolutionsChecks  # noqa: E402

from stacks import GithubOidcStack, PaperFoundryStack, load_config  # noqa: E402

ACCOUNT = "111111111111"  # fake, test-only
REGION = "eu-west-1"
GITHUB_REPOSITORY = "example-org/paperfoundry"
TEST_CONTEXT = {
    "aws:cdk:bundling-stacks": [],
    "@aws-cdk/core:annotationsInValidationReport": False,
    "notificationEmail": "alerts@example.org",
    "alarmEmail": "ops@example.org",
    "slackWebhookSecretName": "paperfoundry/slack-webhook",
    "llmSecretName": "paperfoundry/llm",
    "githubRepository": GITHUB_REPOSITORY,
}


def cdk_json_context() -> dict:
    return json.loads((ROOT / "cdk.json").read_text())["context"]


@dataclass
class Synth:
    app: cdk.App
    stack: PaperFoundryStack
    template: Template
    oidc: GithubOidcStack | None = None
    oidc_template: Template | None = None


@pytest.fixture(scope="session")
def trainer_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    real = ROOT / "containers" / "trainer"
    if (real / "Dockerfile").is_file():
        return real
    stub = tmp_path_factory.mktemp("trainer")
    (stub / "Dockerfile").write_text("ARG BASE_IMAGE=python:3.12-slim\nFROM ${BASE_IMAGE}\n")
    return stub


def synth(trainer_dir: Path, env_agnostic: bool = False, **overrides) -> Synth:
    context = {**cdk_json_context(), **TEST_CONTEXT, **overrides}
    context = {k: v for k, v in context.items() if v is not None}
    app = cdk.App(context=context)
    config = load_config(app.node)
    # env-agnostic synth renders <AWS::AccountId>/<AWS::Region> tokens instead of literals;
    # cdk-nag suppressions must match both forms.
    env = None if env_agnostic else cdk.Environment(account=ACCOUNT, region=REGION)
    stack = PaperFoundryStack(
        app,
        f"PaperFoundry-{config.stage}",
        config=config,
        lambdas_dir=ROOT / "lambdas",
        trainer_dir=trainer_dir,
        env=env,
    )
    oidc = None
    if config.github_repository:
        oidc = GithubOidcStack(app, "PaperFoundryGithubOidc", config=config, env=env)
    cdk.Aspects.of(app).add(AwsSolutionsChecks(verbose=True))
    app.synth()
    return Synth(
        app=app,
        stack=stack,
        template=Template.from_stack(stack),
        oidc=oidc,
        oidc_template=Template.from_stack(oidc) if oidc else None,
    )


@pytest.fixture(scope="session")
def dev(trainer_dir: Path) -> Synth:
    """dev stage with every optional feature on (email, Slack, LLM secret, OIDC stack)."""
    return synth(trainer_dir)


@pytest.fixture(scope="session")
def prod_minimal(trainer_dir: Path) -> Synth:
    """prod stage, env-agnostic, with no optional context (no digest email/Slack/LLM/OIDC;
    the alarm email is required in prod)."""
    return synth(
        trainer_dir,
        env_agnostic=True,
        stage="prod",
        notificationEmail=None,
        alarmEmail="ops@example.org",  # stage=prod refuses to synth without one
        slackWebhookSecretName=None,
        llmSecretName=None,
        githubRepository=None,
    )


@pytest.fixture(scope="session")
def dev_template(dev: Synth) -> Template:
    return dev.template


@pytest.fixture(scope="session")
def dev_resources(dev: Synth) -> dict:
    return dev.template.to_json()["Resources"]
