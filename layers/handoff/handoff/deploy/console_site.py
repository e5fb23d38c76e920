"""Publishes the agents' console to its S3 bucket: the handler of a CloudFormation custom resource.

`sam deploy` creates the bucket, the CloudFront distribution in front of it and the Cognito
hosted sign-in; this resource then copies the console's static files (the function's own code
folder, `console/`) into the bucket with a `config.json` that names the Live API and the sign-in,
values CloudFormation only knows once everything else exists. It runs again when the console's
files or any of those values change, and empties the bucket when the stack is deleted (so the
bucket can go too).

CloudFormation waits for the answer this handler PUTs to the request's presigned `ResponseURL`;
every path through the handler answers, a failure with its reason, so a stack never hangs.
"""

from __future__ import annotations

import json
import mimetypes
import os
import urllib.request
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Literal, Self

from aws_lambda_powertools.utilities.data_classes import CloudFormationCustomResourceEvent, event_source
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_pascal

from handoff.adapters import clients
from handoff.observability import logger

CONFIG_FILE = "config.json"
# The properties of the custom resource that become config.json, as the console reads them.
CONFIG_PROPERTIES = {
    "ApiUrl": "apiUrl",
    "CognitoDomain": "cognitoDomain",
    "ClientId": "clientId",
    "RedirectUri": "redirectUri",
}
# Agents always load the console they were just given: caches revalidate every file (ETag).
CACHE_CONTROL = "no-cache"
RESPONSE_TIMEOUT_SECONDS = 30
REASON_LIMIT = 1000  # CloudFormation shows the reason in the stack's events; keep it readable


class SiteError(ValueError):
    """The resource's properties or the console's files are not what publishing needs."""


class Response(BaseModel):
    """The answer CloudFormation waits for on the request's presigned URL (its response object)."""

    model_config = ConfigDict(
        defer_build=True,
        frozen=True,
        alias_generator=to_pascal,
        validate_by_name=True,
        serialize_by_alias=True,
    )

    status: Literal["SUCCESS", "FAILED"]
    reason: str = Field(max_length=REASON_LIMIT)
    physical_resource_id: str
    stack_id: str
    request_id: str
    logical_resource_id: str
    no_echo: bool = False
    data: dict[str, str] = Field(default_factory=dict)

    @classmethod
    def to(
        cls,
        request: CloudFormationCustomResourceEvent,
        status: Literal["SUCCESS", "FAILED"],
        physical_id: str,
        reason: str = "",
    ) -> Self:
        return cls(
            status=status,
            reason=(reason or status)[:REASON_LIMIT],
            physical_resource_id=physical_id,
            stack_id=request.stack_id,
            request_id=request.request_id,
            logical_resource_id=request.logical_resource_id,
        )


def site_config(properties: Mapping[str, Any]) -> dict[str, str]:
    """config.json's content from the custom resource's properties (all four are required)."""
    missing = [name for name in CONFIG_PROPERTIES if not str(properties.get(name) or "").strip()]
    if missing:
        raise SiteError(f"the console's custom resource lacks {', '.join(missing)}")
    return {key: str(properties[name]).strip() for name, key in CONFIG_PROPERTIES.items()}


def site_files(source: Path) -> dict[str, Path]:
    """The console's files by object key: everything in `source` but code, caches and config.json."""
    files = {
        path.relative_to(source).as_posix(): path
        for path in sorted(source.rglob("*"))
        if path.is_file()
        and path.suffix not in {".py", ".pyc"}
        and not any(part.startswith((".", "__")) for part in path.relative_to(source).parts)
    }
    files.pop(CONFIG_FILE, None)
    if "index.html" not in files:
        raise SiteError(f"{source} has no index.html: it is not the console")
    return files


def publish(bucket: str, source: Path, config: Mapping[str, str]) -> list[str]:
    """Put the console and its config.json into `bucket`, drop what is no longer part of it; the keys."""
    s3 = clients.client("s3")
    keys = []
    for key, path in site_files(source).items():
        s3.put_object(
            Bucket=bucket,
            Key=key,
            Body=path.read_bytes(),
            ContentType=_content_type(key),
            CacheControl=CACHE_CONTROL,
        )
        keys.append(key)
    s3.put_object(
        Bucket=bucket,
        Key=CONFIG_FILE,
        Body=json.dumps(config, indent=2).encode(),
        ContentType="application/json",
        CacheControl=CACHE_CONTROL,
    )
    keys.append(CONFIG_FILE)
    stale = [key for key in _keys(bucket) if key not in keys]
    _delete(bucket, stale)
    logger.info("console published", extra={"bucket": bucket, "files": keys, "removed": stale})
    return keys


def empty(bucket: str) -> int:
    """Delete every object in `bucket` (a bucket already gone counts as empty); how many went."""
    try:
        keys = list(_keys(bucket))
    except clients.client("s3").exceptions.NoSuchBucket:
        logger.info("console bucket already gone", extra={"bucket": bucket})
        return 0
    _delete(bucket, keys)
    logger.info("console bucket emptied", extra={"bucket": bucket, "removed": len(keys)})
    return len(keys)


@event_source(data_class=CloudFormationCustomResourceEvent)
def handler(event: CloudFormationCustomResourceEvent, context: LambdaContext) -> None:
    """Create/Update: publish into the bucket named by `BucketName`; Delete: empty the bucket.

    The physical id is the bucket's name, so an update that keeps the bucket keeps the resource
    (CloudFormation then sends no Delete), and the Delete after a bucket's replacement empties the
    old bucket, the one the physical id names.
    """
    request = event.request_type
    properties = event.resource_properties
    physical_id = event.physical_resource_id or str(properties.get("BucketName") or "console")
    logger.info("console site request", extra={"request": request, "physical_id": physical_id})
    try:
        if request == "Delete":
            empty(physical_id)
        elif request in ("Create", "Update"):
            bucket = str(properties.get("BucketName") or "")
            if not bucket:
                raise SiteError("the console's custom resource lacks BucketName")
            source = Path(os.environ.get("LAMBDA_TASK_ROOT") or Path.cwd())
            publish(bucket, source, site_config(properties))
            physical_id = bucket
        else:
            raise SiteError(f"unknown RequestType {request!r}")
    except Exception as error:  # CloudFormation must hear of every failure, whatever it is
        logger.exception("console site request failed", extra={"request": request})
        log_stream = getattr(context, "log_stream_name", "")
        reason = f"{type(error).__name__}: {error}" + (f" (log stream {log_stream})" if log_stream else "")
        respond(event.response_url, Response.to(event, "FAILED", physical_id, reason))
        return
    respond(event.response_url, Response.to(event, "SUCCESS", physical_id))


def respond(url: str, answer: Response) -> None:
    """PUT the custom resource's answer to CloudFormation's presigned URL."""
    body = answer.model_dump_json().encode()
    # the URL is presigned for a PUT with no content type: sending one would break the signature
    request = urllib.request.Request(
        url,
        data=body,
        method="PUT",
        headers={"Content-Type": "", "Content-Length": str(len(body))},
    )
    with urllib.request.urlopen(request, timeout=RESPONSE_TIMEOUT_SECONDS) as reply:
        logger.info("answered CloudFormation", extra={"status": answer.status, "http_status": reply.status})


def _content_type(key: str) -> str:
    kind, _ = mimetypes.guess_type(key)
    kind = kind or "application/octet-stream"
    return f"{kind}; charset=utf-8" if kind.startswith("text/") or kind.endswith("javascript") else kind


def _keys(bucket: str) -> Iterable[str]:
    pages = clients.client("s3").get_paginator("list_objects_v2").paginate(Bucket=bucket)
    for page in pages:
        for item in page.get("Contents", []):
            yield item["Key"]


def _delete(bucket: str, keys: list[str]) -> None:
    s3 = clients.client("s3")
    for start in range(0, len(keys), 1000):  # DeleteObjects takes at most 1000 keys
        batch = [{"Key": key} for key in keys[start : start + 1000]]
        s3.delete_objects(Bucket=bucket, Delete={"Objects": batch, "Quiet": True})
