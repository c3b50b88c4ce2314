"""SageMaker execution role and the trainer image asset."""

import json
from pathlib import Path

import aws_cdk as cdk
from aws_cdk.assertions import Match

from stacks.storage import Storage
from stacks.training import DEFAULT_BASE_IMAGE, Training
from tests.infra.conftest import cdk_json_context


def _role_statements(resources):
    statements = []
    for r in resources.values():
        if r["Type"] == "AWS::IAM::Policy" and any(
            ref["Ref"].startswith("TrainingSageMakerExecutionRole")
            for ref in r["Properties"]["Roles"]
        ):
            statements += r["Properties"]["PolicyDocument"]["Statement"]
    return statements


def _actions(statement):
    a = statement["Action"]
    return a if isinstance(a, list) else [a]


def _suffixes(statement):
    resources = (
        statement["Resource"]
        if isinstance(statement["Resource"], list)
        else [statement["Resource"]]
    )
    return sorted(r["Fn::Join"][1][-1] for r in resources)


def test_role_trusts_only_sagemaker(dev_template):
    dev_template.has_resource_properties(
        "AWS::IAM::Role",
        {
            "AssumeRolePolicyDocument": {
                "Statement": [
                    {
                        "Action": "sts:AssumeRole",
                        "Effect": "Allow",
                        "Principal": {"Service": "sagemaker.amazonaws.com"},
                        "Condition": {"StringEquals": {"aws:SourceAccount": "111111111111"}},
                    }
                ]
            },
            "ManagedPolicyArns": Match.absent(),
        },
    )


def test_role_s3_access_is_prefix_scoped(dev_resources):
    statements = _role_statements(dev_resources)
    reads = [s for s in statements if _actions(s) == ["s3:GetObject"]]
    writes = [s for s in statements if _actions(s) == ["s3:PutObject"]]
    lists = [s for s in statements if _actions(s) == ["s3:ListBucket"]]
    assert len(reads) == len(writes) == len(lists) == 1
    assert _suffixes(reads[0]) == [
        "/checkpoints/*",
        "/datasets/*",  # the data channel (CIFAR-10 for image/diffusion at medium/large)
        "/days/*",
        "/implementations/*",
    ]
    assert _suffixes(writes[0]) == ["/checkpoints/*", "/training/*"]
    assert lists[0]["Condition"] == {
        "StringLike": {
            "s3:prefix": [
                "checkpoints/*",
                "datasets/*",
                "days/*",
                "implementations/*",
                "training/*",
            ]
        }
    }
    all_actions = {a for s in statements for a in _actions(s)}
    assert {a for a in all_actions if a.startswith("s3:")} == {
        "s3:GetObject",
        "s3:PutObject",
        "s3:ListBucket",
    }


def test_role_has_nothing_else(dev_resources):
    statements = _role_statements(dev_resources)
    all_actions = {a for s in statements for a in _actions(s)}
    assert all_actions == {
        "s3:GetObject",
        "s3:PutObject",
        "s3:ListBucket",
        "ecr:BatchCheckLayerAvailability",
        "ecr:BatchGetImage",
        "ecr:GetDownloadUrlForLayer",
        "ecr:GetAuthorizationToken",
        "logs:CreateLogGroup",
        "logs:CreateLogStream",
        "logs:PutLogEvents",
        "logs:DescribeLogStreams",
        "cloudwatch:PutMetricData",
    }
    text = json.dumps(statements)
    for forbidden in ("sagemaker:", "dynamodb:", "secretsmanager:", "sns:", "sqs:", "iam:", "kms:"):
        assert forbidden not in text
    pull = next(s for s in statements if "ecr:BatchGetImage" in _actions(s))
    assert "container-assets" in json.dumps(pull["Resource"])
    metrics = next(s for s in statements if _actions(s) == ["cloudwatch:PutMetricData"])
    assert metrics["Condition"] == {
        "StringEquals": {"cloudwatch:namespace": "/aws/sagemaker/TrainingJobs"}
    }
    streams = next(s for s in statements if "logs:PutLogEvents" in _actions(s))
    assert json.dumps(streams["Resource"]).endswith(
        ':111111111111:log-group:/aws/sagemaker/TrainingJobs:log-stream:pf-*"]]}'
    )


def test_trainer_image_is_a_docker_asset(dev):
    manifest = dev.app.synth().get_stack_by_name(dev.stack.stack_name)
    assets = json.loads(
        (Path(manifest.assembly.directory) / f"{dev.stack.stack_name}.assets.json").read_text()
    )
    assert len(assets["dockerImages"]) == 1
    image = next(iter(assets["dockerImages"].values()))
    assert image["source"]["platform"] == "linux/amd64"
    # the default base: the PyTorch training DLC from ECR Public, pullable without a login
    assert image["source"]["dockerBuildArgs"] == {"BASE_IMAGE": DEFAULT_BASE_IMAGE}


def test_default_base_image_is_the_public_pytorch_training_dlc():
    registry, _, tag = DEFAULT_BASE_IMAGE.partition(":")
    assert registry == "public.ecr.aws/deep-learning-containers/pytorch-training"
    # a GPU, SageMaker-flavoured tag with the Python the harness is tested on
    assert "-gpu-" in tag and tag.endswith("-sagemaker") and "-py312-" in tag
    assert "dkr.ecr" not in DEFAULT_BASE_IMAGE


def test_base_image_override(trainer_dir):
    app = cdk.App(context=cdk_json_context())
    stack = cdk.Stack(app, "TrainingOnly")
    storage = Storage(stack, "Storage", is_prod=False)
    custom = "docker.io/pytorch/pytorch:2.9.0-cuda12.8-cudnn9-runtime"
    Training(stack, "Training", storage=storage, image_directory=trainer_dir, base_image=custom)
    assembly = app.synth()
    assets = json.loads((Path(assembly.directory) / f"{stack.artifact_id}.assets.json").read_text())
    [image] = assets["dockerImages"].values()
    assert image["source"]["dockerBuildArgs"] == {"BASE_IMAGE": custom}
