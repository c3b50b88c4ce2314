"""cfn-lint on the synthesised templates, actionlint + zizmor on workflows, hadolint on the
trainer Dockerfile. All run offline."""

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.infra.conftest import ROOT

WORKFLOWS = ROOT / ".github" / "workflows"
DOCKERFILE = ROOT / "containers" / "trainer" / "Dockerfile"


def _tool(name: str) -> str:
    candidate = Path(sys.executable).parent / name
    if candidate.exists():
        return str(candidate)
    found = shutil.which(name)
    if not found:
        pytest.fail(f"{name} is not installed (dev dependency)")
    return found


def _run(cmd: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120, cwd=ROOT)


def test_cfn_lint_synthesised_templates(dev, prod_minimal, tmp_path):
    paths = []
    for name, template in {
        "dev": dev.template,
        "oidc": dev.oidc_template,
        "prod": prod_minimal.template,
    }.items():
        path = tmp_path / f"{name}.template.json"
        path.write_text(json.dumps(template.to_json(), indent=1))
        paths.append(str(path))
    # W3005 (redundant DependsOn) is emitted by CDK itself for every Lambda/role pair.
    result = _run(
        [
            _tool("cfn-lint"),
            "--regions",
            "eu-west-1",
            "us-east-1",
            "--ignore-checks",
            "W3005",
            "--",
            *paths,
        ]
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_workflows_exist():
    assert (WORKFLOWS / "ci.yml").is_file() and (WORKFLOWS / "deploy.yml").is_file()


def test_actionlint():
    result = _run([_tool("actionlint"), str(WORKFLOWS / "ci.yml"), str(WORKFLOWS / "deploy.yml")])
    assert result.returncode == 0, result.stdout + result.stderr


def test_zizmor_offline():
    result = _run([_tool("zizmor"), "--offline", str(WORKFLOWS)])
    assert result.returncode == 0, result.stdout + result.stderr


def test_deploy_workflow_contract():
    text = (WORKFLOWS / "deploy.yml").read_text()
    assert "environment: ${{ inputs.environment }}" in text
    assert "id-token: write" in text and "contents: read" in text
    assert "cdk bootstrap" not in text.replace("`cdk bootstrap` of", "")
    assert text.index(" diff ") < text.index(' deploy "PaperFoundry-')
    assert "--require-approval never" in text
    assert "vars.AWS_DEPLOY_ROLE_ARN" in text and "vars.AWS_REGION" in text
    assert not re.search(r"\.env\b", text) and "GITHUB_ENV" not in text  # no secrets to files
    # every action pinned to a full commit SHA
    uses = re.findall(r"uses:\s*(\S+)", text + (WORKFLOWS / "ci.yml").read_text())
    assert uses and all(re.fullmatch(r"[\w.-]+/[\w.-]+@[0-9a-f]{40}", u) for u in uses), uses
    assert re.search(r"aws-cdk@\$\{CDK_CLI_VERSION\}", text)
    assert re.search(r"CDK_CLI_VERSION: \d+\.\d+\.\d+\n", text)


def test_hadolint_trainer_dockerfile():
    if not DOCKERFILE.is_file():
        pytest.skip("containers/trainer/Dockerfile does not exist yet (owned by the trainer work)")
    result = _run([_tool("hadolint"), str(DOCKERFILE)])
    assert result.returncode == 0, result.stdout + result.stderr
