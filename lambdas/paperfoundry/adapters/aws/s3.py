"""`S3BlobStore`: the `BlobStore` port on one S3 bucket (server-side encrypted writes), and
the HTTPS links people open: the report site's URL when there is one, else a presigned URL.

A presigned URL is only as good as the credentials that signed it. The S3 docs: SigV4
presigned URLs last at most 7 days, and one signed with temporary credentials (an IAM
role session, which is what a Lambda function runs with) "expires when the role session
expires, even if you specify a longer expiration time". A Lambda function cannot see when
its session ends, so `Link` says "until <time> at the latest, maybe sooner" whenever the
URL carries a session token.

URLs are always signed with SigV4: botocore presigns S3 URLs with the legacy SigV2 unless
the client was configured for "s3v4", and S3 refuses SigV2 for buckets created after
June 2020.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

MAX_PRESIGN_SECONDS = 7 * 24 * 3600  # SigV4 query-string signatures: at most 7 days
SITE_PREFIX = "reports/"  # what the report site serves (its CloudFront origin path)


@dataclass(frozen=True)
class Link:
    """An HTTPS link to an object, with what can honestly be said about its lifetime."""

    url: str
    # None: the link does not expire (the report site).
    expires_at: datetime | None = None
    # Signed with a session token: it dies with that session, possibly before expires_at.
    temporary_credentials: bool = False

    @property
    def expires(self) -> bool:
        return self.expires_at is not None

    @property
    def expiry_note(self) -> str:
        """One sentence for the digest ("" for a link that does not expire)."""
        if self.expires_at is None:
            return ""
        when = self.expires_at.astimezone(UTC).strftime("%a %d %b %Y %H:%M UTC")
        if self.temporary_credentials:
            return (
                f"This link works until {when} at the latest and may stop sooner: it was "
                "signed with temporary AWS credentials and expires with them."
            )
        return f"This link works until {when}."

    @property
    def expiry_short(self) -> str:
        """A few words for a button or a chat line ("" for a link that does not expire)."""
        if self.expires_at is None:
            return ""
        when = self.expires_at.astimezone(UTC).strftime("%d %b %H:%M UTC")
        return f"expires by {when}" + (", maybe sooner" if self.temporary_credentials else "")


class BlobTooLarge(ValueError):
    """An object larger than the caller is willing to hold in memory."""


class S3BlobStore:
    def __init__(
        self,
        bucket: str,
        client: Any = None,
        *,
        kms_key_id: str | None = None,
        site_url: str | None = None,
        presign_client: Any = None,
    ) -> None:
        if client is None:
            import boto3

            client = boto3.client("s3")
        self.bucket = bucket
        self.client = client
        self.kms_key_id = kms_key_id
        site_url = (site_url or "").strip().rstrip("/")
        if site_url and not site_url.startswith("https://"):
            raise ValueError(f"site_url must be an https:// URL, got {site_url!r}")
        # https://<domain> of the report site (CloudFront in front of reports/), or None.
        self.site_url = site_url or None
        # A SigV4 client for presigning (made on first use, in the main client's region).
        self._presign_client = presign_client

    def uri(self, key: str) -> str:
        return f"s3://{self.bucket}/{key}"

    def put(self, key: str, data: bytes, content_type: str = "application/octet-stream") -> str:
        extra: dict[str, Any] = {"ServerSideEncryption": "AES256"}
        if self.kms_key_id:
            extra = {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": self.kms_key_id}
        self.client.put_object(
            Bucket=self.bucket, Key=key, Body=data, ContentType=content_type, **extra
        )
        return self.uri(key)

    def get(self, key: str, *, max_bytes: int | None = None) -> bytes:
        """The object's bytes. With `max_bytes`, an object whose size (GetObject's
        ContentLength, the same figure HeadObject gives, but for the very object whose body
        is about to be read) is above it raises BlobTooLarge before its body is read, and
        the read itself stops one byte past the limit."""
        try:
            response = self.client.get_object(Bucket=self.bucket, Key=key)
        except self.client.exceptions.NoSuchKey as exc:
            raise KeyError(key) from exc
        body = response["Body"]
        if max_bytes is None:
            return body.read()
        size = response.get("ContentLength")
        if size is not None and size > max_bytes:
            body.close()
            raise BlobTooLarge(f"{self.uri(key)} is {size} bytes (limit {max_bytes})")
        data = body.read(max_bytes + 1)
        if len(data) > max_bytes:
            body.close()
            raise BlobTooLarge(f"{self.uri(key)} is over {max_bytes} bytes")
        return data

    def get_if_changed(self, key: str, etag: str | None) -> tuple[bytes | None, str]:
        """A conditional GetObject (If-None-Match): S3 answers 304 without the body when
        the object is unchanged."""
        from botocore.exceptions import ClientError

        try:
            extra = {"IfNoneMatch": etag} if etag else {}
            response = self.client.get_object(Bucket=self.bucket, Key=key, **extra)
        except self.client.exceptions.NoSuchKey as exc:
            raise KeyError(key) from exc
        except ClientError as exc:
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            if etag and (status == 304 or exc.response.get("Error", {}).get("Code") == "304"):
                return None, etag
            raise
        return response["Body"].read(), response["ETag"]

    def exists(self, key: str) -> bool:
        from botocore.exceptions import ClientError

        try:
            self.client.head_object(Bucket=self.bucket, Key=key)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return False
            raise
        return True

    def presigned_url(self, key: str, expires_in: int = MAX_PRESIGN_SECONDS) -> str:
        """A GET URL for `key` valid for `expires_in` seconds (1 s to 7 days) at most;
        `report_link` says how long it really lasts."""
        if not 1 <= expires_in <= MAX_PRESIGN_SECONDS:
            raise ValueError(f"expires_in must be 1..{MAX_PRESIGN_SECONDS} seconds")
        url = self._presigner().generate_presigned_url(
            "get_object", Params={"Bucket": self.bucket, "Key": key}, ExpiresIn=expires_in
        )
        if "X-Amz-Algorithm=AWS4-HMAC-SHA256" not in url:
            raise RuntimeError(
                "presign_client must sign with SigV4: Config(signature_version='s3v4')"
            )
        return url

    def _presigner(self) -> Any:
        if self._presign_client is None:
            import boto3
            from botocore.config import Config

            self._presign_client = boto3.client(
                "s3",
                region_name=self.client.meta.region_name,
                config=Config(signature_version="s3v4", s3={"addressing_style": "virtual"}),
            )
        return self._presign_client

    def public_url(self, key: str) -> str:
        """The report site's URL of `key` (which must be under reports/): the site serves
        s3://<bucket>/reports/<path> as https://<domain>/<path>."""
        if self.site_url is None:
            raise ValueError("no report site configured (SITE_URL)")
        if not key.startswith(SITE_PREFIX) or key == SITE_PREFIX:
            raise ValueError(f"the report site serves only {SITE_PREFIX}..., not {key!r}")
        return f"{self.site_url}/{quote(key[len(SITE_PREFIX) :], safe='/-_.~')}"

    def report_link(self, key: str, *, expires_in: int = MAX_PRESIGN_SECONDS) -> Link:
        """The link to put in a digest: the site's (does not expire) when there is a site,
        else a presigned URL with its honest expiry, read from the signature itself
        (X-Amz-Date + X-Amz-Expires; a session token in X-Amz-Security-Token)."""
        if self.site_url is not None and key.startswith(SITE_PREFIX):
            return Link(self.public_url(key))
        url = self.presigned_url(key, expires_in)
        query = {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}
        signed_at = datetime.strptime(query["X-Amz-Date"], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
        expires_at = signed_at + timedelta(seconds=int(query["X-Amz-Expires"]))
        return Link(url, expires_at, "X-Amz-Security-Token" in query)
