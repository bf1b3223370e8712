"""Completion events: schema, validation, the outbox, and signed webhooks with retries."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from evaljobs.errors import EvalJobError
from evaljobs.events import completion_event, event_schema_path, generate_event_schema, validate_event
from evaljobs.records import (
    Accounting,
    BenchmarkResult,
    JobRecord,
    JobStatus,
    MetricValue,
    Rates,
    Trigger,
    utcnow,
)
from runners.sinks.completion_event import JsonlOutbox, WebhookSink, emit_completion


def finished_job() -> JobRecord:
    now = utcnow()
    return JobRecord(
        id="job-0123456789ab",
        entity="team-a",
        project="evals",
        model="gemma-270m:v3",
        status=JobStatus.SUCCEEDED,
        spec={"model": {"api": {"model": "openai/x", "api_key": "secret://KEY"}}, "benchmarks": ["boolq"]},
        trigger=Trigger(
            kind="webhook",
            detail={"policy": "p", "event": {"artifact_version_string": "team-a/p/gemma-270m:v3", "x": 1}},
        ),
        created_at=now - timedelta(seconds=90),
        started_at=now - timedelta(seconds=60),
        finished_at=now,
        results=[
            BenchmarkResult(
                benchmark="arc_easy",
                task="arc_easy",
                scoring="loglikelihood",
                status="success",
                metrics=[MetricValue(name="acc_norm/accuracy", value=0.6, stderr=0.05)],
                primary_metric="acc_norm/accuracy",
                samples_total=100,
                samples_completed=100,
            )
        ],
    )


def test_the_committed_schema_is_current() -> None:
    assert json.loads(event_schema_path().read_text()) == generate_event_schema(), "run `evaljobs schema`"


def test_event_of_a_finished_job_is_valid_and_carries_results_not_the_spec() -> None:
    payload = completion_event(finished_job()).model_dump(mode="json")
    validate_event(payload)
    assert payload["status"] == "succeeded" and payload["trigger"] == "webhook"
    assert payload["trigger_ref"] == {"policy": "p", "artifact_version_string": "team-a/p/gemma-270m:v3"}
    assert payload["benchmarks"][0]["metrics"] == [
        {"name": "acc_norm/accuracy", "value": 0.6, "stderr": 0.05}
    ]
    assert payload["timings"]["wall_time_s"] == pytest.approx(60)
    assert "secret://" not in json.dumps(payload) and "spec" not in payload
    assert payload["usage"] is None  # no accounting recorded


def test_event_carries_what_the_job_used() -> None:
    job = finished_job()
    used = Accounting(
        input_tokens=5000,
        output_tokens=0,
        wall_time_s=60.0,
        model_server_s=50.0,
        model_server_startup_s=20.0,
        cost_usd=0.11,
        rates=Rates(server_hour_usd=7.9, basis="2 GPU × EVALJOBS_GPU_HOUR_USD 3.95"),
    )
    job = job.model_copy(
        update={
            "accounting": used,
            "results": [job.results[0].model_copy(update={"input_tokens": 5000, "cost_usd": 0.11})],
        }
    )
    payload = completion_event(job).model_dump(mode="json")
    validate_event(payload)
    assert payload["usage"] == {
        "input_tokens": 5000,
        "output_tokens": 0,
        "model_server_s": 50.0,
        "cost_usd": 0.11,
        "cost_basis": "2 GPU × EVALJOBS_GPU_HOUR_USD 3.95",
        "grader_input_tokens": 0,
        "grader_output_tokens": 0,
        "grader_cost_usd": None,
    }
    assert (payload["benchmarks"][0]["input_tokens"], payload["benchmarks"][0]["cost_usd"]) == (5000, 0.11)


def test_event_carries_the_graders_tokens_apart_from_the_models() -> None:
    job = finished_job()
    used = Accounting(
        input_tokens=900,
        output_tokens=100,
        grader_input_tokens=4000,
        grader_output_tokens=20,
        grader_cost_usd=0.0042,
        wall_time_s=30.0,
        model_server_s=None,
        model_server_startup_s=None,
        cost_usd=None,
        rates=Rates(basis="job pricing"),
    )
    graded = {"grader_input_tokens": 4000, "grader_output_tokens": 20, "grader_cost_usd": 0.0042}
    job = job.model_copy(update={"accounting": used, "results": [job.results[0].model_copy(update=graded)]})
    payload = completion_event(job).model_dump(mode="json")
    validate_event(payload)
    usage = payload["usage"]
    assert (usage["input_tokens"], usage["output_tokens"]) == (900, 100)
    assert (usage["grader_input_tokens"], usage["grader_output_tokens"], usage["grader_cost_usd"]) == (
        4000,
        20,
        0.0042,
    )
    assert {k: payload["benchmarks"][0][k] for k in graded} == graded


def test_running_jobs_have_no_event_and_bad_payloads_are_named() -> None:
    with pytest.raises(EvalJobError, match="only finished jobs"):
        completion_event(finished_job().model_copy(update={"status": JobStatus.RUNNING}))
    payload = completion_event(finished_job()).model_dump(mode="json")
    payload["status"] = "exploded"
    del payload["job_id"]
    with pytest.raises(EvalJobError, match=r"/status: 'exploded' is not one of") as err:
        validate_event(payload)
    assert "'job_id' is a required property" in str(err.value)


class Receiver:
    """A real HTTP endpoint that answers the given status codes in turn and keeps what it got."""

    def __init__(self, statuses: list[int]) -> None:
        self.statuses, self.received = list(statuses), []  # type: ignore[var-annotated]
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                outer.received.append((dict(self.headers), body))
                self.send_response(outer.statuses.pop(0) if outer.statuses else 200)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver([500, 503])
    yield r
    r.server.shutdown()


def test_webhook_is_signed_retried_with_backoff_and_logged(receiver: Receiver, tmp_path: Path) -> None:
    log = tmp_path / "deliveries.jsonl"
    payload = completion_event(finished_job()).model_dump(mode="json")
    WebhookSink(receiver.url, "shh", log, attempts=5, backoff_s=0.01).send(payload)
    assert len(receiver.received) == 3
    headers, body = receiver.received[-1]
    expected = "sha256=" + hmac.new(b"shh", body, hashlib.sha256).hexdigest()
    assert headers["X-Evaljobs-Signature"] == expected and json.loads(body) == payload
    assert headers["X-Evaljobs-Event-Id"] == payload["event_id"]
    attempts = [json.loads(line) for line in log.read_text().splitlines()]
    assert [(a["attempt"], a["status"], a["delivered"]) for a in attempts] == [
        (1, 500, False),
        (2, 503, False),
        (3, 200, True),
    ]


def test_a_refusal_is_not_retried_and_an_unreachable_receiver_gives_up(tmp_path: Path) -> None:
    refusing = Receiver([400])
    payload = completion_event(finished_job()).model_dump(mode="json")
    with pytest.raises(RuntimeError, match="refused"):
        WebhookSink(refusing.url, None, tmp_path / "d.jsonl", backoff_s=0.01).send(payload)
    assert len(refusing.received) == 1
    refusing.server.shutdown()
    with pytest.raises(RuntimeError, match="not delivered after 3 attempts"):
        WebhookSink("http://127.0.0.1:9/", None, tmp_path / "d.jsonl", attempts=3, backoff_s=0.01).send(
            payload
        )


def test_emit_writes_the_outbox_and_survives_a_failing_sink(tmp_path: Path) -> None:
    said: list[str] = []
    outbox = JsonlOutbox(tmp_path / "outbox.jsonl")
    dead = WebhookSink("http://127.0.0.1:9/", None, tmp_path / "d.jsonl", attempts=2, backoff_s=0.01)
    payload = emit_completion(finished_job(), None, said.append, sinks=[outbox, dead])  # type: ignore[arg-type]
    assert payload is not None
    assert [json.loads(x)["job_id"] for x in (tmp_path / "outbox.jsonl").read_text().splitlines()] == [
        "job-0123456789ab"
    ]
    assert len(said) == 1 and "not delivered" in said[0]


def test_two_containers_outboxes_both_survive_their_volume_commits(tmp_path: Path) -> None:
    """On Modal each runner container writes the home Volume and commits it; a commit replaces the
    files it wrote, whole (last writer wins). Events of two jobs must not share a file."""
    import shutil

    from evaljobs.settings import Settings
    from runners.sinks.completion_event import sinks_for

    volume = tmp_path / "volume"
    for n, job in enumerate([finished_job(), finished_job().model_copy(update={"id": "job-ba9876543210"})]):
        container = Settings(home=tmp_path / f"container-{n}")
        emit_completion(job, container, lambda _: None, sinks=sinks_for(container, job.id))
        shutil.copytree(container.home, volume, dirs_exist_ok=True)  # the commit: each file replaced
    events = [json.loads(line) for path in volume.rglob("*.jsonl") for line in path.read_text().splitlines()]
    assert sorted(e["job_id"] for e in events) == ["job-0123456789ab", "job-ba9876543210"]
