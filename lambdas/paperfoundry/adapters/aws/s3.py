"""`S3BlobStore`: the `BlobStore` port on one S3 bucket (server-side encrypted writes)."""

from __future__ import annotations

from typing import Any


class BlobTooLarge(ValueError):
    """An object larger than the caller is willing to hold in memory."""


class S3BlobStore:
    def __init__(
        self,
        bucket: str,
        client: Any = None,
        *,
        kms_key_id: str | None = None,
    ) -> None:
        if client is None:
            import boto3

            client = boto3.client("s3")
        self.bucket = bucket
        self.client = client
        self.kms_key_id = kms_key_id

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

    def exists(self, key: str) -> bool:
        from botocore.exceptions import ClientError

        try:
            self.client.head_object(Bucket=self.bucket, Key=key)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return False
            raise
        return True

    def presigned_url(self, key: str, expires_in: int = 7 * 24 * 3600) -> str:
        """A time-limited HTTPS link (SigV4 caps it at 7 days) for the digest."""
        return self.client.generate_presigned_url(
            "get_object", Params={"Bucket": self.bucket, "Key": key}, ExpiresIn=expires_in
        )
