"""cdk-nag AwsSolutions: zero unsuppressed findings in every stack and stage."""

import pytest
from aws_cdk.assertions import Annotations, Match

NAG = Match.string_like_regexp("AwsSolutions-.*")


def _findings(stack):
    annotations = Annotations.from_stack(stack)
    return [
        f"{m.id}: {m.entry.data}"
        for m in annotations.find_error("*", NAG) + annotations.find_warning("*", NAG)
    ]


@pytest.mark.parametrize("which", ["dev", "prod_minimal"])
def test_no_unsuppressed_nag_findings(request, which):
    s = request.getfixturevalue(which)
    stacks = [s.stack] + ([s.oidc] if s.oidc is not None else [])
    findings = [f for stack in stacks for f in _findings(stack)]
    assert findings == [], "\n".join(findings)


def test_every_suppression_has_a_specific_reason(dev):
    seen = 0
    for template in (dev.template, dev.oidc_template):
        for logical_id, resource in template.to_json()["Resources"].items():
            rules = resource.get("Metadata", {}).get("cdk_nag", {}).get("rules_to_suppress", [])
            for rule in rules:
                seen += 1
                assert rule["id"].startswith("AwsSolutions-"), (logical_id, rule)
                assert len(rule["reason"]) >= 40, (logical_id, rule)
                if rule["id"] == "AwsSolutions-IAM5":
                    # wildcard suppressions must always be narrowed with appliesTo
                    assert rule.get("applies_to"), (logical_id, rule)
    assert seen > 0


def test_site_suppresses_only_what_it_documents(dev):
    """The report site: geo restriction, WAF and the TLS policy of the default certificate
    (CFR1/2/4) on the distribution, self-logging on its log bucket (S1); nothing else."""
    suppressed = {}
    for logical_id, resource in dev.template.to_json()["Resources"].items():
        if logical_id.startswith("Site"):
            rules = resource.get("Metadata", {}).get("cdk_nag", {}).get("rules_to_suppress", [])
            if rules:
                suppressed[resource["Type"]] = sorted(rule["id"] for rule in rules)
    assert suppressed == {
        "AWS::CloudFront::Distribution": [
            "AwsSolutions-CFR1",
            "AwsSolutions-CFR2",
            "AwsSolutions-CFR4",
        ],
        "AWS::S3::Bucket": ["AwsSolutions-S1"],
    }
