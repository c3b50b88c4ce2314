"""The report site: CloudFront + OAC in front of reports/ only, HTTPS, headers, logs, the
optional IP allow-list (its CloudFront Function run under node), and site=false."""

from __future__ import annotations

import json
import shutil
import subprocess

import aws_cdk as cdk
import pytest
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk.assertions import Annotations, Match, Template
from cdk_nag import AwsSolutionsChecks

from stacks.site import CONTENT_SECURITY_POLICY, Site, address_ranges, allowlist_code
from stacks.storage import Storage
from tests.infra.conftest import ACCOUNT, REGION, cdk_json_context, synth

NAG = Match.string_like_regexp("AwsSolutions-.*")


def _site_stack(*, allow_cidrs=(), kms_bucket=False) -> tuple[cdk.Stack, Site]:
    """Storage (or a KMS-encrypted bucket) + Site alone: quick to synthesise."""
    context = {**cdk_json_context(), "@aws-cdk/core:annotationsInValidationReport": False}
    app = cdk.App(context=context)
    stack = cdk.Stack(app, "SiteTest", env=cdk.Environment(account=ACCOUNT, region=REGION))
    if kms_bucket:
        bucket = s3.Bucket(
            stack,
            "Bucket",
            encryption=s3.BucketEncryption.KMS,
            encryption_key=kms.Key(stack, "Key", enable_key_rotation=True),
            enforce_ssl=True,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
        )
    else:
        bucket = Storage(stack, "Storage", is_prod=False).bucket
    site = Site(stack, "Site", bucket=bucket, allow_cidrs=tuple(allow_cidrs))
    cdk.Aspects.of(app).add(AwsSolutionsChecks(verbose=True))
    app.synth()
    return stack, site


def _distribution(template: Template) -> dict:
    [dist] = template.find_resources("AWS::CloudFront::Distribution").values()
    return dist["Properties"]["DistributionConfig"]


def _cloudfront_statements(template: Template) -> list[dict]:
    return [
        s
        for policy in template.find_resources("AWS::S3::BucketPolicy").values()
        for s in policy["Properties"]["PolicyDocument"]["Statement"]
        if s.get("Principal") == {"Service": "cloudfront.amazonaws.com"}
    ]


# -- the deployed stack (dev fixture: site on, no allow-list) ---------------------------------


def test_origin_is_reports_prefix_through_oac(dev_template):
    config = _distribution(dev_template)
    [origin] = config["Origins"]
    assert origin["OriginPath"] == "/reports"
    assert origin["DomainName"]["Fn::GetAtt"][0].startswith("StorageArtifactBucket")
    assert origin["S3OriginConfig"] == {"OriginAccessIdentity": ""}
    assert origin["OriginAccessControlId"]["Fn::GetAtt"][1] == "Id"
    dev_template.has_resource_properties(
        "AWS::CloudFront::OriginAccessControl",
        {
            "OriginAccessControlConfig": Match.object_like(
                {
                    "OriginAccessControlOriginType": "s3",
                    "SigningBehavior": "always",
                    "SigningProtocol": "sigv4",
                }
            )
        },
    )


def test_bucket_policy_lets_only_this_distribution_read_only_reports(dev_template):
    [statement] = _cloudfront_statements(dev_template)
    assert statement["Effect"] == "Allow"
    assert statement["Action"] == "s3:GetObject"
    parts = statement["Resource"]["Fn::Join"][1]
    assert parts[0]["Fn::GetAtt"][0].startswith("StorageArtifactBucket")
    assert parts[-1] == "/reports/*"
    source = statement["Condition"]["StringEquals"]["AWS:SourceArn"]["Fn::Join"][1]
    assert source[0] == f"arn:aws:cloudfront::{ACCOUNT}:distribution/"
    assert source[1]["Ref"].startswith("SiteDistribution")
    # the bucket itself stays private
    dev_template.has_resource_properties(
        "AWS::S3::Bucket",
        {
            "PublicAccessBlockConfiguration": {
                "BlockPublicAcls": True,
                "BlockPublicPolicy": True,
                "IgnorePublicAcls": True,
                "RestrictPublicBuckets": True,
            },
            "LoggingConfiguration": Match.object_like({"LogFilePrefix": "artifact-bucket/"}),
        },
    )


def test_sse_s3_bucket_needs_no_key_grant(dev_template):
    keys = json.dumps(dev_template.find_resources("AWS::KMS::Key"))
    assert "cloudfront.amazonaws.com" not in keys


def test_https_only_security_headers_logs_and_index(dev_template):
    config = _distribution(dev_template)
    behavior = config["DefaultCacheBehavior"]
    assert behavior["ViewerProtocolPolicy"] == "https-only"
    assert behavior["AllowedMethods"] == ["GET", "HEAD"]
    assert "FunctionAssociations" not in behavior  # no allow-list configured
    assert config["DefaultRootObject"] == "index.html"
    assert config["Logging"]["Bucket"]["Fn::GetAtt"][0].startswith("SiteAccessLogBucket")
    [headers] = dev_template.find_resources("AWS::CloudFront::ResponseHeadersPolicy").values()
    security = headers["Properties"]["ResponseHeadersPolicyConfig"]["SecurityHeadersConfig"]
    assert security["ContentSecurityPolicy"]["ContentSecurityPolicy"] == CONTENT_SECURITY_POLICY
    assert "script-src" not in CONTENT_SECURITY_POLICY
    assert "default-src 'none'" in CONTENT_SECURITY_POLICY
    assert security["StrictTransportSecurity"]["AccessControlMaxAgeSec"] >= 31536000
    assert security["FrameOptions"]["FrameOption"] == "DENY"
    assert security["ReferrerPolicy"]["ReferrerPolicy"] == "no-referrer"
    assert security["ContentTypeOptions"]["Override"] is True
    # CloudFront standard logging writes with ACLs: its bucket must allow them
    dev_template.has_resource_properties(
        "AWS::S3::Bucket",
        {
            "OwnershipControls": {"Rules": [{"ObjectOwnership": "BucketOwnerPreferred"}]},
            "LifecycleConfiguration": {
                "Rules": [Match.object_like({"ExpirationInDays": 90, "Status": "Enabled"})]
            },
        },
    )


def test_site_url_output(dev):
    assert dev.stack.site is not None
    outputs = dev.template.to_json()["Outputs"]
    value = outputs["SiteUrl"]["Value"]["Fn::Join"][1]
    assert value[0] == "https://"
    assert value[1]["Fn::GetAtt"][1] == "DomainName"


# -- site=false ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def site_off(trainer_dir):
    return synth(trainer_dir, site="false")


def test_site_off_means_no_cloudfront(site_off):
    assert site_off.stack.site is None
    resources = site_off.template.to_json()["Resources"]
    assert not [r for r in resources.values() if r["Type"].startswith("AWS::CloudFront::")]
    assert "SiteUrl" not in site_off.template.to_json()["Outputs"]
    assert _cloudfront_statements(site_off.template) == []


# -- allow-list ----------------------------------------------------------------------------


def test_address_ranges_are_fixed_width_hex():
    assert address_ranges(("203.0.113.0/24", "2001:db8::/32", "198.51.100.7/32")) == [
        [4, "cb007100", "cb0071ff"],
        [6, "20010db8" + "0" * 24, "20010db8" + "f" * 24],
        [4, "c6336407", "c6336407"],
    ]


def test_allowlist_is_a_viewer_request_function():
    stack, site = _site_stack(allow_cidrs=("203.0.113.0/24",))
    template = Template.from_stack(stack)
    [fn] = template.find_resources("AWS::CloudFront::Function").values()
    assert fn["Properties"]["FunctionConfig"]["Runtime"] == "cloudfront-js-2.0"
    assert 'var RANGES = [[4, "cb007100", "cb0071ff"]];' in fn["Properties"]["FunctionCode"]
    [association] = _distribution(template)["DefaultCacheBehavior"]["FunctionAssociations"]
    assert association["EventType"] == "viewer-request"
    assert site.allowlist is not None


def test_allowlist_size_and_input_are_checked():
    with pytest.raises(ValueError):
        allowlist_code(())
    many = tuple(f"10.{i // 256}.{i % 256}.0/24" for i in range(400))
    with pytest.raises(ValueError, match="byte limit"):
        allowlist_code(many)


NODE_HARNESS = """
%s
var ips = JSON.parse(process.argv[1]);
var out = {};
ips.forEach(function (ip) {
  var r = handler({viewer: {ip: ip}, request: {uri: '/index.html'}});
  out[ip] = r.statusCode === 403 ? 403 : (r.uri === '/index.html' ? 'pass' : 'bad');
});
console.log(JSON.stringify(out));
"""


def test_allowlist_function_admits_exactly_the_listed_ranges():
    node = shutil.which("node")
    if node is None:
        pytest.fail("node is not installed (aws-cdk-lib needs it anyway)")
    code = allowlist_code(("203.0.113.0/24", "2001:db8:abcd::/48", "198.51.100.7/32"))
    expected = {
        "203.0.113.0": "pass",
        "203.0.113.255": "pass",
        "203.0.114.0": 403,
        "203.0.112.255": 403,
        "198.51.100.7": "pass",
        "198.51.100.8": 403,
        "2001:db8:abcd::1": "pass",
        "2001:DB8:ABCD:ffff:ffff:ffff:ffff:ffff": "pass",
        "2001:0db8:abcd:0000:0000:0000:0000:0001": "pass",
        "2001:db8:abce::1": 403,
        "::1": 403,
        "::ffff:203.0.113.9": 403,  # an IPv4-mapped IPv6 address is not the IPv4 range
        "not-an-ip": 403,
        "203.0.113": 403,
        "203.0.113.256": 403,
        "1:2:3:4:5:6:7:8:9": 403,
        "2001:db8:abcd::1::2": 403,
    }
    result = subprocess.run(
        [node, "-e", NODE_HARNESS % code, json.dumps(list(expected))],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert json.loads(result.stdout) == expected


# -- an SSE-KMS bucket, and cdk-nag on the variants -------------------------------------------


def test_kms_bucket_gets_a_decrypt_grant_for_the_accounts_distributions():
    stack, _ = _site_stack(kms_bucket=True)
    template = Template.from_stack(stack)
    [key] = template.find_resources("AWS::KMS::Key").values()
    [statement] = [
        s
        for s in key["Properties"]["KeyPolicy"]["Statement"]
        if s.get("Principal") == {"Service": "cloudfront.amazonaws.com"}
    ]
    assert statement["Action"] == "kms:Decrypt"
    assert statement["Condition"] == {
        "ArnLike": {"AWS:SourceArn": f"arn:aws:cloudfront::{ACCOUNT}:distribution/*"}
    }


@pytest.mark.parametrize(
    "variant", [{"allow_cidrs": ("203.0.113.0/24", "2001:db8::/32")}, {"kms_bucket": True}]
)
def test_site_variants_have_no_unsuppressed_nag_findings(variant):
    stack, _ = _site_stack(**variant)
    annotations = Annotations.from_stack(stack)
    found = annotations.find_error("*", NAG) + annotations.find_warning("*", NAG)
    # the test's own bare KMS bucket is not the Site's business
    found = [m for m in found if m.id.startswith("/SiteTest/Site/")]
    assert [f"{m.id}: {m.entry.data}" for m in found] == []
    # nor any CDK warning (the imported-bucket OAC warning is acknowledged on purpose)
    assert annotations.find_warning("*", Match.any_value()) == []
