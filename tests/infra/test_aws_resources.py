"""AWS resources and the AWS adapters over real HTTP with real boto3, against a moto server."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import boto3
import pytest

from evaljobs.events import validate_event
from evaljobs.settings import Settings
from infra.aws_resources import provision
from runners.artifacts import download_s3_prefix
from runners.sinks.completion_event import EventBridgeSink, SnsSink, SqsSink, sinks_for
from runners.sinks.eval_logs import upload_job_logs
from tests.evaljobs.test_events import finished_job


@pytest.fixture
def aws(aws_endpoint: str, monkeypatch: pytest.MonkeyPatch, home: Path) -> tuple[dict[str, str], Settings]:
    prefix = f"t{uuid.uuid4().hex[:8]}"
    resources = provision(prefix, endpoint_url=aws_endpoint)
    monkeypatch.setenv("EVALJOBS_AWS_ENDPOINT_URL", aws_endpoint)
    from evaljobs.settings import get_settings

    get_settings.cache_clear()
    return resources, get_settings()


def client(service: str, endpoint: str):  # type: ignore[no-untyped-def]
    return boto3.client(service, endpoint_url=endpoint, region_name="us-east-1")


def test_provisioning_is_idempotent(aws_endpoint: str) -> None:
    first = provision("twice", endpoint_url=aws_endpoint)
    second = provision("twice", endpoint_url=aws_endpoint)
    assert first == second
    sns = client("sns", aws_endpoint)
    assert (
        len(sns.list_subscriptions_by_topic(TopicArn=first["EVALJOBS_EVENT_SNS_TOPIC_ARN"])["Subscriptions"])
        == 1
    )
    assert (
        client("dynamodb", aws_endpoint).describe_table(TableName="twice-jobs")["Table"]["TableStatus"]
        == "ACTIVE"
    )


def receive(queue_url: str, endpoint: str) -> list[dict[str, object]]:
    sqs = client("sqs", endpoint)
    messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=2).get(
        "Messages", []
    )
    return [json.loads(m["Body"]) for m in messages]


def test_an_event_published_to_sns_arrives_on_the_queue_valid(
    aws: tuple[dict[str, str], Settings], aws_endpoint: str
) -> None:
    resources, settings = aws
    payload = _event()
    SnsSink(resources["EVALJOBS_EVENT_SNS_TOPIC_ARN"], settings).send(payload)
    [received] = receive(resources["COMPLETIONS_QUEUE_URL"], aws_endpoint)
    validate_event(received)  # type: ignore[arg-type]
    assert received == payload


def test_sqs_and_eventbridge_sinks(aws: tuple[dict[str, str], Settings], aws_endpoint: str) -> None:
    resources, settings = aws
    payload = _event()
    SqsSink(resources["COMPLETIONS_QUEUE_URL"], settings).send(payload)
    assert receive(resources["COMPLETIONS_QUEUE_URL"], aws_endpoint) == [payload]
    EventBridgeSink(resources["EVALJOBS_EVENT_BUS"], settings).send(payload)  # raises if refused
    with pytest.raises(Exception, match=r"(?i)not exist|not found|ResourceNotFound"):
        EventBridgeSink("no-such-bus", settings).send(payload)


def test_settings_choose_the_sinks(aws: tuple[dict[str, str], Settings]) -> None:
    resources, settings = aws
    configured = settings.model_copy(
        update={"event_sns_topic_arn": resources["EVALJOBS_EVENT_SNS_TOPIC_ARN"], "event_bus": "b"}
    )
    sinks = sinks_for(configured, "job-1")
    assert [type(s).__name__ for s in sinks] == ["JsonlOutbox", "SnsSink", "EventBridgeSink"]


def test_eval_logs_go_to_s3_and_s3_checkpoints_come_back(
    aws: tuple[dict[str, str], Settings], aws_endpoint: str, tmp_path: Path
) -> None:
    resources, _ = aws
    bucket = resources["EVALJOBS_EVAL_LOGS_BUCKET"]
    folder = tmp_path / "job"
    (folder / "logs").mkdir(parents=True)
    (folder / "job.log").write_text("hello\n")
    (folder / "logs" / "2026-arc.eval").write_bytes(b"PK\x03\x04 eval log")
    uri = upload_job_logs(folder, bucket, "job-1")
    assert uri == f"s3://{bucket}/jobs/job-1/"
    keys = sorted(o["Key"] for o in client("s3", aws_endpoint).list_objects_v2(Bucket=bucket)["Contents"])
    assert keys == ["jobs/job-1/job.log", "jobs/job-1/logs/2026-arc.eval"]
    cached = download_s3_prefix(uri, tmp_path / "cache")
    assert (cached / "logs" / "2026-arc.eval").read_bytes() == b"PK\x03\x04 eval log"
    assert download_s3_prefix(uri, tmp_path / "cache") == cached  # same ETags: cached, not fetched again


def _event() -> dict[str, object]:
    from evaljobs.events import completion_event

    return completion_event(finished_job()).model_dump(mode="json")
