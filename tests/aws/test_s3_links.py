"""S3BlobStore links: the report site's URL, else a SigV4 presigned URL whose expiry text
is honest (a URL signed with temporary credentials may die before its X-Amz-Expires)."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import boto3
import pytest
from botocore.config import Config
from paperfoundry.adapters.aws.s3 import MAX_PRESIGN_SECONDS, Link, S3BlobStore

BUCKET = "paperfoundry-artifacts-test"
KEY = "reports/2024-03-01/report.html"
SIGV4 = {"signature_version": "s3v4", "s3": {"addressing_style": "virtual"}}

# Credentials come from the environment (tests/aws/conftest.py sets fake ones, with a
# session token, i.e. temporary credentials like a Lambda function's).


@pytest.fixture
def long_term_credentials(monkeypatch):
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    monkeypatch.delenv("AWS_SECURITY_TOKEN", raising=False)


def _client(region: str = "eu-west-1", **config):
    # a fresh session: boto3's default one caches the credentials it resolved first
    session = boto3.session.Session()
    return session.client("s3", region_name=region, config=Config(**config) if config else None)


def _store(**kwargs) -> S3BlobStore:
    # The main client is a default one (as Runtime builds it); presigning must not use it.
    return S3BlobStore(BUCKET, _client(), presign_client=_client(**SIGV4), **kwargs)


def _query(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


def test_presigned_url_is_sigv4_even_from_a_default_client():
    """botocore presigns S3 with SigV2 unless told otherwise; S3 refuses SigV2 for buckets
    created after June 2020. The store signs with its own SigV4 client."""
    default = _client()
    legacy = default.generate_presigned_url(
        "get_object", Params={"Bucket": BUCKET, "Key": KEY}, ExpiresIn=60
    )
    assert "X-Amz-Algorithm" not in legacy  # what the bug looked like
    url = S3BlobStore(BUCKET, default).presigned_url(KEY, 3600)
    parts = urlsplit(url)
    query = _query(url)
    assert parts.scheme == "https"
    assert parts.netloc == f"{BUCKET}.s3.eu-west-1.amazonaws.com"
    assert parts.path == "/" + KEY
    assert query["X-Amz-Algorithm"] == "AWS4-HMAC-SHA256"
    assert query["X-Amz-Expires"] == "3600"
    assert "/eu-west-1/s3/aws4_request" in query["X-Amz-Credential"]


def test_a_sigv2_presign_client_is_refused():
    store = S3BlobStore(BUCKET, _client(), presign_client=_client())
    with pytest.raises(RuntimeError, match="SigV4"):
        store.presigned_url(KEY, 60)


@pytest.mark.parametrize("seconds", [0, -5, MAX_PRESIGN_SECONDS + 1])
def test_presign_lifetime_is_bounded_by_sigv4(seconds):
    with pytest.raises(ValueError):
        _store().presigned_url(KEY, seconds)


def test_link_signed_with_temporary_credentials_says_it_may_expire_sooner():
    before = datetime.now(UTC).replace(microsecond=0)
    link = _store().report_link(KEY, expires_in=6 * 3600)
    after = datetime.now(UTC)
    query = _query(link.url)
    assert query["X-Amz-Security-Token"] == os.environ["AWS_SESSION_TOKEN"]
    assert link.temporary_credentials is True
    # the expiry is the signature's own: X-Amz-Date + X-Amz-Expires
    assert before + timedelta(hours=6) <= link.expires_at <= after + timedelta(hours=6)
    when = link.expires_at.strftime("%a %d %b %Y %H:%M UTC")
    assert link.expiry_note == (
        f"This link works until {when} at the latest and may stop sooner: it was signed "
        "with temporary AWS credentials and expires with them."
    )
    assert link.expiry_short.endswith(", maybe sooner")


def test_link_signed_with_long_term_credentials_states_its_expiry(long_term_credentials):
    link = _store().report_link(KEY, expires_in=3600)
    assert "X-Amz-Security-Token" not in _query(link.url)
    assert link.temporary_credentials is False
    assert link.expiry_note.startswith("This link works until ")
    assert "sooner" not in link.expiry_note and "sooner" not in link.expiry_short


def test_site_links_do_not_expire_and_map_reports_prefix_to_the_site_root():
    store = _store(site_url="https://d111111abcdef8.cloudfront.net/")
    link = store.report_link(KEY)
    assert link == Link("https://d111111abcdef8.cloudfront.net/2024-03-01/report.html")
    assert not link.expires and link.expiry_note == "" and link.expiry_short == ""
    assert store.public_url("reports/index.html") == (
        "https://d111111abcdef8.cloudfront.net/index.html"
    )
    assert store.public_url("reports/2024-03-01/a b#c.html").endswith("/2024-03-01/a%20b%23c.html")
    # the site serves only reports/: anything else stays presigned
    other = store.report_link("training/pf-x/output/model.tar.gz")
    assert other.expires and "X-Amz-Signature" in _query(other.url)
    with pytest.raises(ValueError):
        store.public_url("days/2024-03-01/context.json")


def test_site_url_must_be_https_and_public_url_needs_a_site():
    with pytest.raises(ValueError):
        _store(site_url="http://d111111abcdef8.cloudfront.net")
    with pytest.raises(ValueError):
        _store().public_url(KEY)
