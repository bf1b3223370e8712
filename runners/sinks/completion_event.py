"""Where completion events go: a JSONL outbox (always), signed webhooks, SNS, SQS, EventBridge.

Outgoing webhooks carry `X-Evaljobs-Signature: sha256=<hex HMAC-SHA256 of the body>` and
are retried with exponential backoff (tenacity); every attempt is a line in the delivery
log. Each target is tried on its own: one receiver being down does not stop the others
(`CompletionEventSink` is the result sink that sends the event, last of all).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

import httpx
from tenacity import RetryError, retry, retry_if_exception_type, stop_after_attempt, wait_exponential

from evaljobs.events import completion_event, validate_event
from evaljobs.records import JobRecord, Runtime, utcnow
from evaljobs.settings import Settings
from evaljobs.stores.aws import aws_client
from runners.sinks.base import SinkContext

__all__ = [
    "EVENT_SOURCE",
    "CompletionEventSink",
    "EventBridgeSink",
    "EventSink",
    "JsonlOutbox",
    "SnsSink",
    "SqsSink",
    "WebhookSink",
    "emit_completion",
    "sinks_for",
]

log = logging.getLogger("evaljobs.events")

EVENT_SOURCE = "evaljobs"
"""`source` of the events put on EventBridge (their detail-type is the event's `type`)."""


class EventSink(Protocol):
    """Sends one validated event payload."""

    def send(self, payload: dict[str, Any]) -> None: ...


def _append(path: Path, line: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as f:
        f.write(json.dumps(line, default=str) + "\n")  # one write: lines of concurrent runners do not mix


class JsonlOutbox:
    """Appends each event as a line to a JSONL file: `outbox/<job id>.jsonl` in the evaljobs home.

    A file per job, not one for all: on Modal the home is a Volume that runner containers
    commit concurrently, and a file two containers append to keeps only the last commit's lines."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def send(self, payload: dict[str, Any]) -> None:
        _append(self.path, payload)


class _Retry(Exception):
    """A delivery attempt that may succeed later (connection error, 5xx, 429)."""


def signature(secret: str, body: bytes) -> str:
    """The signature header value for `body`."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class WebhookSink:
    """POSTs each event to a URL, signed, with retries; logs every attempt."""

    def __init__(
        self, url: str, secret: str | None, delivery_log: Path, attempts: int = 5, backoff_s: float = 1.0
    ) -> None:
        self.url, self.secret, self.delivery_log = url, secret, delivery_log
        self.attempts, self.backoff_s = attempts, backoff_s

    def send(self, payload: dict[str, Any]) -> None:
        body = json.dumps(payload).encode()
        headers = {
            "Content-Type": "application/json",
            "X-Evaljobs-Event": str(payload.get("type")),
            "X-Evaljobs-Event-Id": str(payload.get("event_id")),
        }
        if self.secret:
            headers["X-Evaljobs-Signature"] = signature(self.secret, body)
        attempt = 0

        @retry(
            retry=retry_if_exception_type(_Retry),
            stop=stop_after_attempt(self.attempts),
            wait=wait_exponential(multiplier=self.backoff_s, max=60),
        )
        def deliver() -> None:
            nonlocal attempt
            attempt += 1
            entry: dict[str, Any] = {
                "event_id": payload.get("event_id"),
                "url": self.url,
                "attempt": attempt,
                "at": utcnow().isoformat(),
            }
            try:
                response = httpx.post(self.url, content=body, headers=headers, timeout=30)
            except httpx.HTTPError as exc:
                _append(
                    self.delivery_log, {**entry, "error": f"{type(exc).__name__}: {exc}", "delivered": False}
                )
                raise _Retry from exc
            delivered = response.is_success
            _append(self.delivery_log, {**entry, "status": response.status_code, "delivered": delivered})
            if response.status_code >= 500 or response.status_code == 429:
                raise _Retry
            if not delivered:  # 4xx: the receiver refuses this event; retrying will not change that
                raise RuntimeError(f"{self.url} refused the event: HTTP {response.status_code}")

        try:
            deliver()
        except RetryError as exc:
            raise RuntimeError(f"{self.url}: not delivered after {self.attempts} attempts") from exc


class SnsSink:
    """Publishes each event to an SNS topic (subscribe SQS queues, Lambdas, e-mail to it)."""

    def __init__(self, topic_arn: str, settings: Settings) -> None:
        self.topic_arn, self.client = topic_arn, aws_client("sns", settings)

    def send(self, payload: dict[str, Any]) -> None:
        self.client.publish(
            TopicArn=self.topic_arn,
            Message=json.dumps(payload),
            MessageAttributes={"type": {"DataType": "String", "StringValue": str(payload["type"])}},
        )


class SqsSink:
    """Sends each event to an SQS queue."""

    def __init__(self, queue_url: str, settings: Settings) -> None:
        self.queue_url, self.client = queue_url, aws_client("sqs", settings)

    def send(self, payload: dict[str, Any]) -> None:
        self.client.send_message(QueueUrl=self.queue_url, MessageBody=json.dumps(payload))


class EventBridgeSink:
    """Puts each event on an EventBridge bus (source `evaljobs`, detail-type `job.completed`)."""

    def __init__(self, bus: str, settings: Settings) -> None:
        self.bus, self.client = bus, aws_client("events", settings)

    def send(self, payload: dict[str, Any]) -> None:
        answer = self.client.put_events(
            Entries=[
                {
                    "Source": EVENT_SOURCE,
                    "DetailType": str(payload["type"]),
                    "Detail": json.dumps(payload),
                    "EventBusName": self.bus,
                }
            ]
        )
        if answer.get("FailedEntryCount"):
            raise RuntimeError(f"EventBridge refused the event: {answer['Entries']}")


def sinks_for(settings: Settings, job_id: str) -> list[EventSink]:
    """The sinks the settings configure for a job's event: the outbox, each webhook URL (its
    attempts logged per job, like the outbox), then the AWS targets."""
    found: list[EventSink] = [JsonlOutbox(settings.home / "outbox" / f"{job_id}.jsonl")]
    deliveries = settings.home / "event_deliveries" / f"{job_id}.jsonl"
    for url in filter(None, (u.strip() for u in settings.event_webhook_urls.split(","))):
        found.append(WebhookSink(url, settings.event_webhook_secret, deliveries))
    if settings.event_sns_topic_arn:
        found.append(SnsSink(settings.event_sns_topic_arn, settings))
    if settings.event_sqs_queue_url:
        found.append(SqsSink(settings.event_sqs_queue_url, settings))
    if settings.event_bus:
        found.append(EventBridgeSink(settings.event_bus, settings))
    return found


def emit_completion(
    job: JobRecord, settings: Settings, say: Callable[[str], None], sinks: list[EventSink] | None = None
) -> dict[str, Any]:
    """Build, validate and send the job's completion event to every target; returns it.

    An invalid event raises (nothing is sent); a target that fails is said and skipped.
    """
    payload = completion_event(job).model_dump(mode="json")
    validate_event(payload)
    for sink in sinks if sinks is not None else sinks_for(settings, job.id):
        try:
            sink.send(payload)
        except Exception as exc:  # noqa: BLE001 - a receiver being down must not fail an evaluated job
            say(f"completion event to {type(sink).__name__} failed: {exc}")
    return payload


class CompletionEventSink:
    """The job's completion event, to the outbox and every configured target."""

    name = "completion-event"

    def write(self, job: JobRecord, ctx: SinkContext) -> Runtime | None:
        emit_completion(job, ctx.settings, ctx.say)
        return None
