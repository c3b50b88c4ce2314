"""GitHub OIDC provider + deploy role."""

import pytest

from stacks.github_oidc_stack import github_subjects
from tests.infra.conftest import GITHUB_REPOSITORY


def _role(template):
    roles = template.find_resources("AWS::IAM::Role")
    assert len(roles) == 1
    return next(iter(roles.values()))["Properties"]


def test_provider_for_github_actions(dev):
    dev.oidc_template.has_resource_properties(
        "AWS::IAM::OIDCProvider",
        {
            "Url": "https://token.actions.githubusercontent.com",
            "ClientIdList": ["sts.amazonaws.com"],
        },
    )


def test_trust_is_exactly_the_configured_repo_environments(dev):
    trust = _role(dev.oidc_template)["AssumeRolePolicyDocument"]["Statement"]
    assert len(trust) == 1
    statement = trust[0]
    assert statement["Action"] == "sts:AssumeRoleWithWebIdentity"
    assert set(statement["Principal"]) == {"Federated"}
    assert statement["Condition"] == {
        "StringEquals": {
            "token.actions.githubusercontent.com:aud": "sts.amazonaws.com",
            "token.actions.githubusercontent.com:sub": [
                f"repo:{GITHUB_REPOSITORY}:environment:dev",
                f"repo:{GITHUB_REPOSITORY}:environment:prod",
            ],
        }
    }
    assert "StringLike" not in statement["Condition"]


def test_role_may_only_assume_cdk_bootstrap_roles(dev):
    policies = dev.oidc_template.find_resources("AWS::IAM::Policy")
    statements = [
        s for p in policies.values() for s in p["Properties"]["PolicyDocument"]["Statement"]
    ]
    assert len(statements) == 1
    statement = statements[0]
    assert sorted(statement["Action"]) == ["sts:AssumeRole", "sts:TagSession"]
    pseudo = {"AWS::Partition": "<P>", "AWS::AccountId": "<A>", "AWS::Region": "<R>"}
    arns = sorted(
        "".join(p if isinstance(p, str) else pseudo[p["Ref"]] for p in r["Fn::Join"][1])
        for r in statement["Resource"]
    )
    assert arns == [
        f"arn:<P>:iam::<A>:role/cdk-hnb659fds-{k}-role-<A>-<R>"
        for k in ("deploy", "file-publishing", "image-publishing", "lookup")
    ]
    role = _role(dev.oidc_template)
    assert "ManagedPolicyArns" not in role and "Policies" not in role
    assert role["MaxSessionDuration"] == 3600


def test_environments_and_existing_provider_from_context(trainer_dir):
    from tests.infra.conftest import synth

    provider_arn = "arn:aws:iam::111111111111:oidc-provider/token.actions.githubusercontent.com"
    s = synth(trainer_dir, githubEnvironments="prod", githubOidcProviderArn=provider_arn)
    s.oidc_template.resource_count_is("AWS::IAM::OIDCProvider", 0)
    statement = _role(s.oidc_template)["AssumeRolePolicyDocument"]["Statement"][0]
    assert statement["Principal"] == {"Federated": provider_arn}
    assert statement["Condition"]["StringEquals"]["token.actions.githubusercontent.com:sub"] in (
        f"repo:{GITHUB_REPOSITORY}:environment:prod",
        [f"repo:{GITHUB_REPOSITORY}:environment:prod"],
    )


def test_subject_helper():
    assert github_subjects("o/r", ("dev",)) == ["repo:o/r:environment:dev"]


def test_oidc_stack_requires_repository(trainer_dir):
    import aws_cdk as cdk

    from stacks import GithubOidcStack, load_config

    app = cdk.App(context={"githubRepository": ""})
    with pytest.raises(ValueError, match="githubRepository"):
        GithubOidcStack(app, "Oidc", config=load_config(app.node))
