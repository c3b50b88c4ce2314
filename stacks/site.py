"""Site: the daily reports behind CloudFront, so the digest's link opens in a browser.

* Origin: the artefact bucket with origin path ``/reports``, read through Origin Access
  Control (SigV4-signed requests from CloudFront). The bucket stays private (block public
  access); its policy lets exactly this distribution ``s3:GetObject`` objects under
  ``reports/`` and nothing else. ``https://<domain>/<day>/report.html`` is
  ``s3://<bucket>/reports/<day>/report.html``; ``/`` serves ``reports/index.html``.
* If the bucket is SSE-KMS encrypted, CloudFront must also be allowed to decrypt with its
  key. Naming this distribution's ARN in the key policy is a circular dependency in one
  stack (key -> distribution -> bucket -> key), so, as the CDK docs do, the statement is
  scoped to distributions of this account (``ArnLike distribution/*``). The artefact bucket
  in stacks/storage.py is SSE-S3, which needs no key policy at all.
* HTTPS only (HTTP is refused), TLS from CloudFront's default certificate, HTTP/2 and 3,
  the cheapest price class (North America + Europe edges).
* Response headers: HSTS, nosniff, frame-ancestors/DENY, no referrer, and the same
  Content-Security-Policy the report carries in its <meta> (no scripts, inline CSS, data:
  images) plus the directives only a header can set.
* Optional IP allow-list (context ``siteAllowCidrs``): a CloudFront Function on viewer
  request (``site_allowlist.js``) answers 403 to everyone else. A function costs
  $0.10 per million requests; AWS WAF would cost a $5/month web ACL + $1/rule + requests
  and, for CloudFront, must live in us-east-1. Sign-in options: docs/DEPLOY.md.
* Access logs: CloudFront standard logs to a dedicated bucket (standard logging writes
  with S3 ACLs, which the BucketOwnerEnforced access-log bucket of Storage forbids).
"""

from __future__ import annotations

import ipaddress
import json
from pathlib import Path

from aws_cdk import Annotations, Duration, RemovalPolicy, Stack
from aws_cdk import aws_cloudfront as cloudfront
from aws_cdk import aws_cloudfront_origins as origins
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3
from cdk_nag import NagSuppressions
from constructs import Construct

from stacks.storage import PREFIX_REPORTS

ALLOWLIST_JS = Path(__file__).with_name("site_allowlist.js")
INDEX_OBJECT = "index.html"
# The same policy as the report's <meta http-equiv> (reporting/templates/report.html),
# plus what only a header can say: no framing, no <base>, no form posts.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src data:; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
LOG_RETENTION = Duration.days(90)
MAX_FUNCTION_BYTES = 10 * 1024  # CloudFront Functions quota: function code size


def address_ranges(cidrs: tuple[str, ...]) -> list[list[int | str]]:
    """`[family, first, last]` per CIDR, addresses as fixed-width lowercase hex (8 digits
    for IPv4, 32 for IPv6) so that the CloudFront Function compares strings."""
    ranges: list[list[int | str]] = []
    for cidr in cidrs:
        network = ipaddress.ip_network(cidr, strict=False)
        width = 8 if network.version == 4 else 32
        first = format(int(network.network_address), f"0{width}x")
        last = format(int(network.broadcast_address), f"0{width}x")
        ranges.append([network.version, first, last])
    return ranges


def allowlist_code(cidrs: tuple[str, ...]) -> str:
    if not cidrs:
        raise ValueError("an allow-list needs at least one CIDR")
    placeholder = "var RANGES = __RANGES__;"
    code = ALLOWLIST_JS.read_text()
    if placeholder not in code:
        raise RuntimeError(f"{ALLOWLIST_JS.name} lost its {placeholder!r} line")
    code = code.replace(placeholder, f"var RANGES = {json.dumps(address_ranges(cidrs))};")
    if len(code.encode()) > MAX_FUNCTION_BYTES:
        raise ValueError(
            f"siteAllowCidrs: {len(cidrs)} ranges make the CloudFront Function larger than "
            f"its {MAX_FUNCTION_BYTES} byte limit; merge them into fewer CIDRs"
        )
    return code


class Site(Construct):
    """CloudFront in front of ``reports/`` of `bucket`. `url` is ``https://<domain>``."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        bucket: s3.IBucket,
        allow_cidrs: tuple[str, ...] = (),
    ) -> None:
        super().__init__(scope, construct_id)
        origin_path = "/" + PREFIX_REPORTS.rstrip("/")

        self.log_bucket = s3.Bucket(
            self,
            "AccessLogBucket",
            encryption=s3.BucketEncryption.S3_MANAGED,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            # CloudFront standard logging grants its log-delivery account an ACL.
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_PREFERRED,
            lifecycle_rules=[
                s3.LifecycleRule(id="expire-cloudfront-logs", expiration=LOG_RETENTION)
            ],
            removal_policy=RemovalPolicy.RETAIN,
        )

        self.origin_access_control = cloudfront.S3OriginAccessControl(
            self,
            "OriginAccessControl",
            description="paperfoundry reports: CloudFront signs every request to S3",
            signing=cloudfront.Signing.SIGV4_ALWAYS,
        )
        # CDK's withOriginAccessControl on the bucket itself would grant the distribution
        # every object; through a reference it grants nothing, and the statement below
        # grants reports/* only (the warning that says so is acknowledged).
        bucket_ref = s3.Bucket.from_bucket_attributes(
            self,
            "OriginBucket",
            bucket_arn=bucket.bucket_arn,
            bucket_regional_domain_name=bucket.bucket_regional_domain_name,
        )
        origin = origins.S3BucketOrigin.with_origin_access_control(
            bucket_ref,
            origin_path=origin_path,
            origin_access_control=self.origin_access_control,
        )

        cache_policy = cloudfront.CachePolicy(
            self,
            "CachePolicy",
            comment="paperfoundry reports: short default TTL, the index changes daily",
            default_ttl=Duration.minutes(5),
            min_ttl=Duration.seconds(0),
            max_ttl=Duration.days(1),
            enable_accept_encoding_gzip=True,
            enable_accept_encoding_brotli=True,
            cookie_behavior=cloudfront.CacheCookieBehavior.none(),
            header_behavior=cloudfront.CacheHeaderBehavior.none(),
            query_string_behavior=cloudfront.CacheQueryStringBehavior.none(),
        )
        headers = cloudfront.ResponseHeadersPolicy(
            self,
            "SecurityHeaders",
            comment="paperfoundry reports: security headers",
            security_headers_behavior=cloudfront.ResponseSecurityHeadersBehavior(
                content_security_policy=cloudfront.ResponseHeadersContentSecurityPolicy(
                    content_security_policy=CONTENT_SECURITY_POLICY, override=True
                ),
                content_type_options=cloudfront.ResponseHeadersContentTypeOptions(override=True),
                frame_options=cloudfront.ResponseHeadersFrameOptions(
                    frame_option=cloudfront.HeadersFrameOption.DENY, override=True
                ),
                referrer_policy=cloudfront.ResponseHeadersReferrerPolicy(
                    referrer_policy=cloudfront.HeadersReferrerPolicy.NO_REFERRER, override=True
                ),
                strict_transport_security=cloudfront.ResponseHeadersStrictTransportSecurity(
                    access_control_max_age=Duration.days(365 * 2),
                    include_subdomains=True,
                    override=True,
                ),
            ),
            custom_headers_behavior=cloudfront.ResponseCustomHeadersBehavior(
                custom_headers=[
                    cloudfront.ResponseCustomHeader(
                        header="Permissions-Policy",
                        value="camera=(), microphone=(), geolocation=(), interest-cohort=()",
                        override=True,
                    )
                ]
            ),
        )

        self.allowlist: cloudfront.Function | None = None
        function_associations = []
        if allow_cidrs:
            self.allowlist = cloudfront.Function(
                self,
                "AllowList",
                comment="paperfoundry reports: 403 unless the viewer IP is allow-listed",
                runtime=cloudfront.FunctionRuntime.JS_2_0,
                code=cloudfront.FunctionCode.from_inline(allowlist_code(allow_cidrs)),
            )
            function_associations.append(
                cloudfront.FunctionAssociation(
                    function=self.allowlist,
                    event_type=cloudfront.FunctionEventType.VIEWER_REQUEST,
                )
            )

        self.distribution = cloudfront.Distribution(
            self,
            "Distribution",
            comment="paperfoundry daily reports",
            default_root_object=INDEX_OBJECT,
            default_behavior=cloudfront.BehaviorOptions(
                origin=origin,
                viewer_protocol_policy=cloudfront.ViewerProtocolPolicy.HTTPS_ONLY,
                allowed_methods=cloudfront.AllowedMethods.ALLOW_GET_HEAD,
                cached_methods=cloudfront.CachedMethods.CACHE_GET_HEAD,
                cache_policy=cache_policy,
                response_headers_policy=headers,
                function_associations=function_associations or None,
                compress=True,
            ),
            price_class=cloudfront.PriceClass.PRICE_CLASS_100,
            http_version=cloudfront.HttpVersion.HTTP2_AND_3,
            enable_logging=True,
            log_bucket=self.log_bucket,
            log_file_prefix="cloudfront/",
        )
        Annotations.of(self.distribution).acknowledge_warning(
            "@aws-cdk/aws-cloudfront-origins:updateImportedBucketPolicyOac",
            "The bucket policy statement for reports/* is added by Site itself.",
        )

        bucket.add_to_resource_policy(
            iam.PolicyStatement(
                sid="AllowCloudFrontReadReports",
                principals=[iam.ServicePrincipal("cloudfront.amazonaws.com")],
                actions=["s3:GetObject"],
                resources=[bucket.arn_for_objects(f"{PREFIX_REPORTS}*")],
                conditions={"StringEquals": {"AWS:SourceArn": self.distribution.distribution_arn}},
            )
        )
        if bucket.encryption_key is not None:
            account_distributions = Stack.of(self).format_arn(
                service="cloudfront", region="", resource="distribution", resource_name="*"
            )
            bucket.encryption_key.add_to_resource_policy(
                iam.PolicyStatement(
                    sid="AllowCloudFrontOacDecryptReports",
                    principals=[iam.ServicePrincipal("cloudfront.amazonaws.com")],
                    actions=["kms:Decrypt"],
                    resources=["*"],
                    conditions={"ArnLike": {"AWS:SourceArn": account_distributions}},
                )
            )

        self.url = f"https://{self.distribution.distribution_domain_name}"
        self._suppress(bool(allow_cidrs))

    def _suppress(self, allow_listed: bool) -> None:
        NagSuppressions.add_resource_suppressions(
            self.log_bucket,
            [
                {
                    "id": "AwsSolutions-S1",
                    "reason": "This bucket is the CloudFront access-log destination; logging "
                    "its own accesses would loop and a further log bucket adds nothing.",
                }
            ],
        )
        NagSuppressions.add_resource_suppressions(
            self.distribution,
            [
                {
                    "id": "AwsSolutions-CFR1",
                    "reason": "Reports are public-paper summaries for a small group; "
                    "geo-blocking protects nothing here. Access is limited by the optional "
                    "IP allow-list (siteAllowCidrs) instead.",
                },
                {
                    "id": "AwsSolutions-CFR2",
                    "reason": "AWS WAF costs a $5/month web ACL plus rules and must be created "
                    "in us-east-1; the distribution serves static GET-only pages and the "
                    "optional allow-list is a CloudFront Function"
                    + (" (configured)." if allow_listed else " (off: siteAllowCidrs empty)."),
                },
                {
                    "id": "AwsSolutions-CFR4",
                    "reason": "The distribution uses the default *.cloudfront.net certificate, "
                    "whose TLS security policy CloudFront fixes; a minimum protocol version "
                    "needs a custom domain with an ACM certificate (docs/DEPLOY.md).",
                },
            ],
        )
