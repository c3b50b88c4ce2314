#!/usr/bin/env python3
"""CDK app for paperfoundry.

    cdk synth  -c stage=dev                   # offline; CDK_DEFAULT_ACCOUNT/REGION optional
    cdk deploy PaperFoundry-dev -c stage=dev -c notificationEmail=<your e-mail>
    cdk deploy PaperFoundryGithubOidc -c githubRepository=owner/name   # once per account

Also runnable without the CDK CLI: `CDK_CONTEXT_JSON='{"stage":"dev"}' .venv/bin/python app.py`
(writes cdk.out/). cdk-nag AwsSolutions checks run on every synth; any unsuppressed finding
is an error annotation that fails `cdk synth`/`cdk deploy` (and this script).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import aws_cdk as cdk
from cdk_nag import AwsSolutionsChecks

from stacks import GithubOidcStack, PaperFoundryStack, load_config

ROOT = Path(__file__).resolve().parent


def cdk_json_context() -> dict:
    """cdk.json's context as defaults, so `python app.py` without the CLI synthesises the
    same template (feature flags included). CDK_CONTEXT_JSON / `-c` values override it."""
    path = ROOT / "cdk.json"
    return json.loads(path.read_text()).get("context", {}) if path.is_file() else {}


def main() -> int:
    app = cdk.App(context=cdk_json_context())
    config = load_config(app.node)
    env = cdk.Environment(
        account=os.environ.get("CDK_DEFAULT_ACCOUNT"),
        region=os.environ.get("CDK_DEFAULT_REGION"),
    )

    trainer_dir = Path(
        app.node.try_get_context("trainerImageDirectory") or ROOT / "containers" / "trainer"
    )
    if not (trainer_dir / "Dockerfile").is_file():
        print(f"error: no Dockerfile in {trainer_dir} (the trainer image asset)", file=sys.stderr)
        return 2

    PaperFoundryStack(
        app,
        f"PaperFoundry-{config.stage}",
        config=config,
        lambdas_dir=ROOT / "lambdas",
        trainer_dir=trainer_dir,
        powertools_version=str(app.node.try_get_context("powertoolsLayerVersion") or "latest"),
        env=env,
        description=f"paperfoundry ({config.stage}): daily scrape, rank, implement, train, report",
    )
    if config.github_repository:
        GithubOidcStack(
            app,
            "PaperFoundryGithubOidc",
            config=config,
            env=env,
            description="paperfoundry: GitHub Actions OIDC provider + CDK deploy role",
        )

    cdk.Aspects.of(app).add(AwsSolutionsChecks(verbose=True))
    assembly = app.synth()

    errors = [
        f"{stack.stack_name}{message.id}: {message.entry.data}"
        for stack in assembly.stacks_recursively
        for message in stack.messages
        if message.level == "error"
    ]
    for line in errors:
        print(f"error: {line}", file=sys.stderr)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
