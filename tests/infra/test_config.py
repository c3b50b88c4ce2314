"""Context parsing (cdk.json defaults + -c overrides)."""

import json

import aws_cdk as cdk
import pytest

from stacks.config import load_config
from tests.infra.conftest import ROOT


def _config(**context):
    return load_config(cdk.App(context=context).node)


def test_cdk_json_defaults_hold_no_personal_data():
    ctx = json.loads((ROOT / "cdk.json").read_text())["context"]
    for key in ("notificationEmail", "slackWebhookSecretName", "llmSecretName", "githubRepository"):
        assert ctx[key] == "", key
    assert ctx["stage"] == "dev"
    assert ctx["githubEnvironments"] == ["dev", "prod"]
    cfg = load_config(cdk.App(context=ctx).node)
    assert cfg.notification_email is None and cfg.github_repository is None
    assert (cfg.max_picks, cfg.gpu_minutes_budget, cfg.training_instance_type) == (
        3,
        120,
        "ml.g5.xlarge",
    )
    assert cfg.schedule_timezone == "UTC"


def test_cli_style_string_values():
    cfg = _config(maxPicks="5", gpuMinutesBudget="240", githubEnvironments='["prod"]')
    assert (cfg.max_picks, cfg.gpu_minutes_budget, cfg.github_environments) == (5, 240, ("prod",))
    assert _config(githubEnvironments="dev, prod").github_environments == ("dev", "prod")


def test_training_runtime_ceiling_defaults_to_an_hour():
    assert _config().training_max_runtime_minutes == 60
    assert _config(trainingMaxRuntimeMinutes="90").training_max_runtime_minutes == 90


@pytest.mark.parametrize(
    "context",
    [
        {"stage": "staging"},
        {"githubRepository": "not a repo"},
        {"maxPicks": "0"},
        {"maxPicks": "x"},
        {"trainingMaxRuntimeMinutes": "0"},
        {"trainingMaxRuntimeMinutes": str(24 * 60 + 1)},
    ],
)
def test_invalid_context_is_rejected(context):
    with pytest.raises(ValueError):
        _config(**context)


def test_no_account_ids_arns_or_emails_in_code():
    import re

    pattern = re.compile(r"\b\d{12}\b|arn:aws:[a-z0-9-]+:[a-z0-9-]*:\d{12}|[\w.+-]+@[\w-]+\.[\w.]+")
    files = [ROOT / "app.py", ROOT / "cdk.json", *sorted((ROOT / "stacks").glob("*.py"))]
    files += sorted((ROOT / ".github" / "workflows").glob("*.yml"))
    for f in files:
        hits = pattern.findall(f.read_text())
        assert hits == [], (f.name, hits)
