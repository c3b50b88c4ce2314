"""Helpers for narrowly-scoped cdk-nag suppressions (`appliesTo` regexes).

Findings render CloudFormation tokens as `<LogicalId.Arn>` / `<AWS::Region>`; with a
concrete env (CDK_DEFAULT_ACCOUNT/REGION set by the CLI) ARNs are literals instead, so
every pattern accepts both forms.
"""

from __future__ import annotations

_PARTITION = r"(<AWS::Partition>|aws[a-z-]*)"
_REGION = r"(<AWS::Region>|[a-z0-9-]+)"
_ACCOUNT = r"(<AWS::AccountId>|[0-9]{12})"


def _regex(body: str) -> dict[str, str]:
    return {"regex": f"/^Resource::{body}$/g"}


def arn(service: str, resource: str) -> dict[str, str]:
    """`arn:<partition>:<service>:<region>:<account>:<resource>` (resource is a regex)."""
    return _regex(f"arn:{_PARTITION}:{service}:{_REGION}:{_ACCOUNT}:{resource}")


def bucket_objects(prefixes: tuple[str, ...]) -> dict[str, str]:
    """`<...ArtifactBucket...Arn>/<prefix>*` for the given bucket prefixes only."""
    names = "|".join(p.rstrip("/") for p in prefixes)
    return _regex(rf"<[A-Za-z0-9]*ArtifactBucket[A-Za-z0-9]*\.Arn>/({names})/\*")


def table_indexes() -> dict[str, str]:
    return _regex(r"<[A-Za-z0-9]*Table[A-Za-z0-9]*\.Arn>/index/\*")


def function_versions(*names: str) -> dict[str, str]:
    """`<Functions<Name>XXXX.Arn>:*` (qualified ARNs of the named functions)."""
    return _regex(rf"<Functions({'|'.join(names)})[A-Za-z0-9]+\.Arn>:\*")
