"""The console's custom resource: publishing console/ and config.json to S3 (moto), answering
CloudFormation on its presigned URL (a loopback server here), emptying the bucket on delete."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import boto3
import pytest
from loopback import LoopbackServer, QuietHandler
from moto import mock_aws

from handoff.adapters import clients
from handoff.deploy import console_site
from handoff_local.aws import LOCAL_AWS_ENVIRONMENT
from handoff_tools.functions import ROOT

BUCKET = "async-handoff-consolebucket-1a2b3c"
PROPERTIES = {
    "ServiceToken": "arn:aws:lambda:us-east-1:123456789012:function:ConsoleSiteFunction",
    "BucketName": BUCKET,
    "ConsoleVersion": "3",
    "ApiUrl": "https://abc123.execute-api.us-east-1.amazonaws.com",
    "CognitoDomain": "https://agents-51af3dc0.auth.us-east-1.amazoncognito.com",
    "ClientId": "4example0client0id",
    "RedirectUri": "https://d111111abcdef8.cloudfront.net/",
}
CONSOLE_FILES = {path.name for path in (ROOT / "console").iterdir()}  # the page, its style, its modules


class CloudFormation(LoopbackServer):
    """The presigned ResponseURL: keeps every answer PUT to it."""

    def __init__(self) -> None:
        self.answers: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        outer = self

        class Handler(QuietHandler):
            def do_PUT(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                outer.answers.append(json.loads(body))
                outer.headers.append({k.lower(): v for k, v in self.headers.items()})
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

        super().__init__(Handler)

    @property
    def response_url(self) -> str:
        return f"{self.url}/cloudformation-response?X-Amz-Signature=x"


@pytest.fixture
def cloudformation() -> Iterator[CloudFormation]:
    fake = CloudFormation()
    yield fake
    fake.close()


@pytest.fixture
def s3(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    for name, value in LOCAL_AWS_ENVIRONMENT.items():
        monkeypatch.setenv(name, value)
    with mock_aws():
        clients.reset()
        client = boto3.client("s3")
        client.create_bucket(Bucket=BUCKET)
        yield client
    clients.reset()


@pytest.fixture
def source(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of console/ as the function's code folder (LAMBDA_TASK_ROOT)."""
    folder = tmp_path / "task"
    shutil.copytree(ROOT / "console", folder)
    monkeypatch.setenv("LAMBDA_TASK_ROOT", str(folder))
    return folder


def request(kind: str, cloudformation: CloudFormation, **changes: Any) -> dict[str, Any]:
    event: dict[str, Any] = {
        "RequestType": kind,
        "ServiceToken": PROPERTIES["ServiceToken"],
        "ResponseURL": cloudformation.response_url,
        "StackId": "arn:aws:cloudformation:us-east-1:123456789012:stack/async-handoff/51af3dc0",
        "RequestId": f"request-{kind.lower()}",
        "LogicalResourceId": "ConsoleSite",
        "ResourceType": "Custom::ConsoleSite",
        "ResourceProperties": dict(PROPERTIES),
    }
    if kind != "Create":
        event["PhysicalResourceId"] = BUCKET
    event.update(changes)
    return event


def handle(event: dict[str, Any], cloudformation: CloudFormation) -> dict[str, Any]:
    console_site.handler(event, SimpleNamespace(log_stream_name="2026/11/23/[$LATEST]abc"))
    assert len(cloudformation.answers) >= 1, "CloudFormation got no answer"
    return cloudformation.answers[-1]


def objects(s3: Any) -> dict[str, dict[str, Any]]:
    keys = [item["Key"] for item in s3.list_objects_v2(Bucket=BUCKET).get("Contents", [])]
    return {key: s3.get_object(Bucket=BUCKET, Key=key) for key in keys}


def test_create_publishes_the_console_and_its_config(s3, source, cloudformation) -> None:
    answer = handle(request("Create", cloudformation), cloudformation)

    assert answer["Status"] == "SUCCESS", answer
    assert answer["PhysicalResourceId"] == BUCKET
    assert answer["RequestId"] == "request-create"
    assert answer["LogicalResourceId"] == "ConsoleSite"
    assert answer["StackId"].endswith("stack/async-handoff/51af3dc0")
    # a presigned PUT URL is signed without a content type
    assert cloudformation.headers[-1].get("content-type", "") == ""

    published = objects(s3)
    assert set(published) == CONSOLE_FILES | {"config.json"}
    for name in CONSOLE_FILES:
        assert published[name]["Body"].read() == (ROOT / "console" / name).read_bytes()
        assert published[name]["CacheControl"] == "no-cache"
    assert published["index.html"]["ContentType"] == "text/html; charset=utf-8"
    assert published["console.css"]["ContentType"] == "text/css; charset=utf-8"
    assert published["main.js"]["ContentType"] in {
        "text/javascript; charset=utf-8",
        "application/javascript; charset=utf-8",
    }
    assert published["config.json"]["ContentType"] == "application/json"
    assert json.loads(published["config.json"]["Body"].read()) == {
        "apiUrl": PROPERTIES["ApiUrl"],
        "cognitoDomain": PROPERTIES["CognitoDomain"],
        "clientId": PROPERTIES["ClientId"],
        "redirectUri": PROPERTIES["RedirectUri"],
    }


def test_update_publishes_the_new_files_and_drops_the_old(s3, source, cloudformation) -> None:
    (source / "legacy.js").write_text("// an old file")
    (source / "__pycache__").mkdir()
    (source / "__pycache__" / "x.pyc").write_bytes(b"\0")
    (source / "publisher.py").write_text("# code is never published")
    handle(request("Create", cloudformation), cloudformation)
    assert "legacy.js" in objects(s3)

    (source / "legacy.js").unlink()
    (source / "index.html").write_text("<!doctype html><title>new console</title>")
    moved = {**PROPERTIES, "ApiUrl": "https://new0api.execute-api.us-east-1.amazonaws.com"}
    answer = handle(request("Update", cloudformation, ResourceProperties=moved), cloudformation)

    assert answer["Status"] == "SUCCESS", answer
    assert answer["PhysicalResourceId"] == BUCKET  # same bucket: CloudFormation sends no Delete
    published = objects(s3)
    assert set(published) == CONSOLE_FILES | {"config.json"}
    assert b"new console" in published["index.html"]["Body"].read()
    assert json.loads(published["config.json"]["Body"].read())["apiUrl"] == moved["ApiUrl"]


def test_delete_empties_the_bucket_its_physical_id_names(s3, source, cloudformation) -> None:
    handle(request("Create", cloudformation), cloudformation)
    # the Delete after a replacement carries the new properties; the old bucket is the physical id
    elsewhere = {**PROPERTIES, "BucketName": "some-new-bucket"}
    answer = handle(request("Delete", cloudformation, ResourceProperties=elsewhere), cloudformation)

    assert answer["Status"] == "SUCCESS", answer
    assert answer["PhysicalResourceId"] == BUCKET
    assert objects(s3) == {}


def test_delete_of_a_bucket_already_gone_succeeds(s3, source, cloudformation) -> None:
    s3.delete_bucket(Bucket=BUCKET)

    answer = handle(request("Delete", cloudformation), cloudformation)

    assert answer["Status"] == "SUCCESS", answer


@pytest.mark.parametrize("missing", ["ApiUrl", "CognitoDomain", "ClientId", "RedirectUri", "BucketName"])
def test_a_missing_property_fails_with_its_name(s3, source, cloudformation, missing) -> None:
    properties = {name: value for name, value in PROPERTIES.items() if name != missing}

    answer = handle(request("Create", cloudformation, ResourceProperties=properties), cloudformation)

    assert answer["Status"] == "FAILED"
    assert missing in answer["Reason"]
    assert "log stream 2026/11/23/[$LATEST]abc" in answer["Reason"]
    assert objects(s3) == {}


def test_a_missing_bucket_fails_the_create_and_says_so(s3, source, cloudformation) -> None:
    s3.delete_bucket(Bucket=BUCKET)

    answer = handle(request("Create", cloudformation), cloudformation)

    assert answer["Status"] == "FAILED"
    assert "NoSuchBucket" in answer["Reason"]


def test_a_folder_without_the_console_fails(s3, tmp_path, cloudformation, monkeypatch) -> None:
    monkeypatch.setenv("LAMBDA_TASK_ROOT", str(tmp_path))

    answer = handle(request("Create", cloudformation), cloudformation)

    assert answer["Status"] == "FAILED"
    assert "no index.html" in answer["Reason"]


def test_an_unknown_request_type_fails(s3, source, cloudformation) -> None:
    answer = handle(request("Rename", cloudformation), cloudformation)

    assert answer["Status"] == "FAILED"
    assert "Rename" in answer["Reason"]
