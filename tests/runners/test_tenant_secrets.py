"""A tenant's job gets its own entity's secrets and nothing else of the server.

A listener stands in as the job's `base_url` and records what every request carries. The runner
runs as it does under `evaljobs serve`: a detached subprocess started by the local executor,
with the server's environment (planted deployment keys included).
"""

from __future__ import annotations

import json
import os
import threading
import time
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from evaljobs.errors import JobValidationError
from evaljobs.records import JobStatus, Trigger
from evaljobs.settings import Settings, get_settings
from evaljobs.stores import open_secret_store
from evaljobs.stores.sqlite_registry import SqliteRegistry
from functions.submit import submit_job
from runners.executor import LocalExecutor

SERVER_KEYS = {
    "OPENAI_API_KEY": f"sk-server-{uuid.uuid4().hex}",
    "AWS_SECRET_ACCESS_KEY": f"aws-server-{uuid.uuid4().hex}",
}
TEAM_A_KEY = f"sk-team-a-{uuid.uuid4().hex}"
TEAM_B_KEY = f"sk-team-b-{uuid.uuid4().hex}"


class Listener:
    """A loopback HTTP server that records each request's headers and body, then refuses it."""

    def __init__(self) -> None:
        self.requests: list[str] = []
        received = self.requests

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode(errors="replace")
                received.append(f"{self.path}\n{self.headers}\n{body}")
                answer = json.dumps({"error": {"message": "no model here", "type": "invalid_request_error"}})
                self.send_response(400)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(answer.encode())

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"


@pytest.fixture
def listener() -> Iterator[Listener]:
    found = Listener()
    yield found
    found.server.shutdown()


@pytest.fixture
def tenant_home(home: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    for name, value in SERVER_KEYS.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("EVALJOBS_SECRETS_FROM_ENV", "1")  # on for the operator: never for tenants
    get_settings.cache_clear()
    settings = get_settings()
    store = open_secret_store(settings)
    store.put_secret("team-a", "MODEL_KEY", TEAM_A_KEY)
    store.put_secret("team-b", "MODEL_KEY", TEAM_B_KEY)
    store.put_secret("team-b", "ONLY_B", TEAM_B_KEY)
    return settings


def job(url: str, **api: Any) -> dict[str, Any]:
    return {
        "entity": "team-a",
        "model": {"api": {"model": "openai-api/custom/m", "base_url": url, **api}},
        "benchmarks": [{"id": "boolq", "scoring": "generate"}],
        "limit": 1,
        "retries": 0,
    }


def run_as_tenant(doc: dict[str, Any], settings: Settings) -> JobStatus:
    registry = SqliteRegistry(settings.db_path)
    record = submit_job(
        doc,
        trigger=Trigger(kind="http"),
        registry=registry,
        executor=LocalExecutor(settings),
        settings=settings,
    )
    deadline = time.monotonic() + 300
    while not registry.get(record.id).status.terminal and time.monotonic() < deadline:
        time.sleep(0.5)
    return registry.get(record.id).status


def test_a_tenant_job_sends_only_its_own_entitys_secret(tenant_home: Settings, listener: Listener) -> None:
    status = run_as_tenant(job(listener.url, api_key="secret://MODEL_KEY"), tenant_home)
    assert status is JobStatus.FAILED  # the listener is no model; what matters is what it received
    assert listener.requests, "the job never reached its base_url"
    seen = "\n".join(listener.requests)
    assert f"Bearer {TEAM_A_KEY}" in seen
    assert TEAM_B_KEY not in seen and all(value not in seen for value in SERVER_KEYS.values())


def test_without_a_key_the_servers_provider_key_is_not_used(
    tenant_home: Settings, listener: Listener
) -> None:
    run_as_tenant(job(listener.url), tenant_home)  # a provider would fall back on OPENAI_API_KEY
    seen = "\n".join(listener.requests)
    assert all(value not in seen for value in SERVER_KEYS.values())


@pytest.mark.parametrize(
    "name", ["OPENAI_API_KEY", "AWS_SECRET_ACCESS_KEY", "HOME", "ONLY_B", "NO_SUCH_NAME"]
)
def test_secret_refs_outside_the_entity_fail_alike(
    tenant_home: Settings, listener: Listener, name: str
) -> None:
    """A server variable, a deployment key, another entity's secret and a name nobody has: one
    message shape, so the answer does not tell which exist."""
    registry = SqliteRegistry(tenant_home.db_path)
    with pytest.raises(JobValidationError) as caught:
        submit_job(
            job(listener.url, api_key=f"secret://{name}"),
            trigger=Trigger(kind="http"),
            registry=registry,
            executor=LocalExecutor(tenant_home),
            settings=tenant_home,
        )
    [issue] = caught.value.issues
    assert issue.pointer == "/model/api/api_key"
    assert issue.message.replace(name, "NAME") == (
        "secret NAME is not set for entity team-a: an admin of team-a stores it with "
        "`evaljobs secret set --entity team-a NAME`"
    )
    assert registry.jobs() == [] and listener.requests == []


def test_a_job_leaves_the_process_environment_as_it_found_it(
    tenant_home: Settings, listener: Listener, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Inline (and in a warm Modal container) the next job must not inherit this one's keys."""
    from runners.job import run_job

    registry = SqliteRegistry(tenant_home.db_path)

    class Later:
        def dispatch(self, job_id: str) -> None:
            pass

    doc = {**job(listener.url, api_key="secret://MODEL_KEY"), "secrets": {"hf_token": "secret://MODEL_KEY"}}
    record = submit_job(
        doc, trigger=Trigger(kind="http"), registry=registry, executor=Later(), settings=tenant_home
    )
    monkeypatch.setenv("HF_TOKEN", "hf-operator")
    before = dict(os.environ)
    run_job(record.id, registry, tenant_home)
    assert f"Bearer {TEAM_A_KEY}" in "\n".join(listener.requests)
    # the job set HF_TOKEN to its own and dropped the server's OPENAI_API_KEY; both are back
    after = {k: v for k, v in os.environ.items() if not k.startswith("WANDB_")}  # W&B's own, from its sink
    assert after == {k: v for k, v in before.items() if not k.startswith("WANDB_")}
