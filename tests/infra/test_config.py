"""Context parsing (cdk.json defaults + -c overrides)."""

import json

import aws_cdk as cdk
import pytest

from stacks.config import (
    DEFAULT_TRAINING_INSTANCE_TYPES,
    TRAINING_BUDGETS,
    TRAINING_TASKS,
    load_config,
)
from tests.infra.conftest import ROOT


def _config(**context):
    return load_config(cdk.App(context=context).node)


def test_cdk_json_defaults_hold_no_personal_data():
    ctx = json.loads((ROOT / "cdk.json").read_text())["context"]
    for key in (
        "notificationEmail",
        "alarmEmail",
        "slackWebhookSecretName",
        "llmSecretName",
        "githubRepository",
        "trainerBaseImage",
    ):
        assert ctx[key] == "", key
    assert ctx["stage"] == "dev"
    assert ctx["githubEnvironments"] == ["dev", "prod"]
    assert ctx["siteAllowCidrs"] == [] and ctx["site"] is True
    # the config file in S3 decides these unless the user overrides them
    for key in ("maxPicks", "gpuMinutesBudget", "arxivCategories", "selectTimeoutSchedule"):
        assert key not in ctx, key
    cfg = load_config(cdk.App(context=ctx).node)
    assert cfg.notification_email is None and cfg.alarm_email is None
    assert cfg.github_repository is None and cfg.trainer_base_image is None
    assert (cfg.max_picks, cfg.gpu_minutes_budget, cfg.arxiv_categories) == (None, None, None)
    assert cfg.config_overrides() == {}
    # the older single trainingInstanceType, while cdk.json still carries it, puts every
    # budget on that type; without it, the budget table
    legacy = ctx.get("trainingInstanceType")
    assert cfg.training_instance_types == (
        dict.fromkeys(TRAINING_BUDGETS, legacy) if legacy else DEFAULT_TRAINING_INSTANCE_TYPES
    )
    assert cfg.schedule_timezone == "UTC"
    assert cfg.digest_deadline_schedule == "cron(0 12 ? * MON-FRI *)"
    assert cfg.site is True and cfg.site_allow_cidrs == ()
    assert not hasattr(cfg, "select_timeout_schedule")


def test_cli_style_string_values():
    cfg = _config(maxPicks="5", gpuMinutesBudget="240", githubEnvironments='["prod"]')
    assert (cfg.max_picks, cfg.gpu_minutes_budget, cfg.github_environments) == (5, 240, ("prod",))
    assert _config(githubEnvironments="dev, prod").github_environments == ("dev", "prod")
    assert _config(site="false").site is False and _config(site=False).site is False
    assert _config(site="true").site is True
    assert _config(enableTracing="yes").tracing is True
    cidrs = _config(siteAllowCidrs="203.0.113.0/24, 2001:db8::/32").site_allow_cidrs
    assert cidrs == ("203.0.113.0/24", "2001:db8::/32")
    assert _config(siteAllowCidrs='["198.51.100.0/24"]').site_allow_cidrs == ("198.51.100.0/24",)
    assert _config(digestDeadline="cron(30 13 ? * MON-FRI *)").digest_deadline_schedule == (
        "cron(30 13 ? * MON-FRI *)"
    )


def test_config_overrides_only_what_the_user_gave():
    assert _config(maxPicks="2").config_overrides() == {"MAX_PICKS": "2"}
    assert _config(gpuMinutesBudget=90, arxivCategories="cs.LG,cs.CL").config_overrides() == {
        "GPU_MINUTES_BUDGET": "90",
        "ARXIV_CATEGORIES": "cs.LG,cs.CL",
    }
    assert _config(maxPicks="", arxivCategories=" ").config_overrides() == {}


def test_prod_without_an_alarm_subscriber_does_not_synthesise():
    with pytest.raises(ValueError, match="alarmEmail") as excinfo:
        _config(stage="prod")
    assert "stage=prod" in str(excinfo.value)
    with pytest.raises(ValueError, match="alarmEmail"):
        _config(stage="prod", alarmEmail="  ", notificationEmail="digest@example.org")
    cfg = _config(stage="prod", alarmEmail="ops@example.org")
    assert cfg.is_prod and cfg.alarm_email == "ops@example.org"
    assert _config(stage="dev").alarm_email is None  # dev synthesises (with a warning)


def test_training_instances_by_budget_and_task_family():
    cfg = _config()
    assert cfg.training_instance_types == DEFAULT_TRAINING_INSTANCE_TYPES
    assert cfg.training_instance_types_used == ("ml.c5.2xlarge", "ml.g5.2xlarge", "ml.g6e.xlarge")
    table = {"lm/large": "ml.g6e.2xlarge", "tiny": "ml.m5.xlarge"}
    for given in (table, json.dumps(table)):  # cdk.json / `-c key='{...}'`
        cfg = _config(trainingInstanceTypes=given)
        assert cfg.training_instance_types == {**DEFAULT_TRAINING_INSTANCE_TYPES, **table}
        assert cfg.training_instance_types_used == (
            "ml.c5.2xlarge", "ml.g5.2xlarge", "ml.g6e.2xlarge", "ml.g6e.xlarge", "ml.m5.xlarge"
        )  # fmt: skip
    # the older key: one type for every budget, then the table's entries
    cfg = _config(
        trainingInstanceType="ml.g4dn.xlarge", trainingInstanceTypes={"large": "ml.g6e.xlarge"}
    )
    assert cfg.training_instance_types == {
        "tiny": "ml.g4dn.xlarge", "small": "ml.g4dn.xlarge", "medium": "ml.g4dn.xlarge",
        "large": "ml.g6e.xlarge",
    }  # fmt: skip
    assert _config(trainingInstanceType="").training_instance_types == (
        DEFAULT_TRAINING_INSTANCE_TYPES
    )


def test_training_tables_are_the_harness_and_the_adapter_s():
    """The stack imports neither the harness nor the Lambda code: its copies are kept
    equal here."""
    from paperfoundry.adapters.aws.sagemaker import INSTANCE_TYPES
    from paperfoundry_trainer.spec import BUDGET_NAMES, TASKS

    assert TRAINING_BUDGETS == BUDGET_NAMES and TRAINING_TASKS == TASKS
    assert DEFAULT_TRAINING_INSTANCE_TYPES == INSTANCE_TYPES


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
        {"gpuMinutesBudget": "-1"},
        {"site": "maybe"},
        {"siteAllowCidrs": "203.0.113.0/33"},
        {"siteAllowCidrs": "203.0.113.7/24"},  # host bits set: probably a typo
        {"siteAllowCidrs": "everyone"},
        {"digestDeadline": "12:00"},
        {"scrapeSchedule": "daily"},
        {"trainingInstanceTypes": {"huge": "ml.p5.48xlarge"}},
        {"trainingInstanceTypes": {"vision/large": "ml.g6e.xlarge"}},
        {"trainingInstanceTypes": {"large": "g6e.xlarge"}},
        {"trainingInstanceTypes": '{"large": '},
        {"trainingInstanceTypes": '["ml.g6e.xlarge"]'},
        {"trainingInstanceType": "gpu"},
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


def test_deploy_workflow_passes_only_known_context_keys():
    """Every `-c key=...` the deploy workflow passes is a key load_config reads, and the
    settings issue 11 asked the workflow to carry are there."""
    import re

    workflow = (ROOT / ".github" / "workflows" / "deploy.yml").read_text()
    passed = set(re.findall(r'-c "([A-Za-z]+)=', workflow))
    known = set(re.findall(r'\(node, "([A-Za-z]+)"', (ROOT / "stacks" / "config.py").read_text()))
    assert passed and passed <= known, passed - known
    assert {"stage", "alarmEmail", "trainerBaseImage", "site", "siteAllowCidrs"} <= passed
    assert "secrets.AWS_DEPLOY_ROLE_ARN || vars.AWS_DEPLOY_ROLE_ARN" in workflow
    assert "mask-aws-account-id: true" in workflow
