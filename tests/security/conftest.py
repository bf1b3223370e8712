"""A hostile-tenant harness: `evaljobs serve`'s app over real HTTP, two entities, planted secrets.

`server` is the app `evaljobs serve` builds (API, webhook receiver, scheduler), served by
uvicorn on a loopback port, with entities `team-a` and `team-b`: each has a member token, an
admin token (a member token where the stores have no admin kind), webhook credentials and
one entity secret. Jobs are recorded by an executor that runs nothing until a test asks
it to (`server.executor.run_dispatched()`: the real runner, in-process).

`planted` puts distinctive values in the server's environment (deployment keys a tenant must
never see) and checks that none of them, nor an entity secret's value, shows up in any HTTP
exchange of the test, any file under the evaljobs home (zip members too: eval logs are
zips), the server's logs or its stdout/stderr.

`server.snapshot()` is every row of every table of the registry file (jobs, results,
deliveries, policies, tokens, webhook credentials, sealed secrets) plus the dispatched job
ids, so a test can assert that a refusal changed nothing.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import http.client
import inspect
import json
import logging
import re
import sqlite3
import sys
import threading
import uuid
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from evaljobs.settings import Settings, get_settings
from evaljobs.stores import open_secret_store
from evaljobs.stores.sqlite_registry import SqliteRegistry
from evaljobs.stores.sqlite_triggers import SqliteTriggerStore
from functions.serve import build_app
from tests.support.live_server import live_server

REPO_ROOT = Path(__file__).resolve().parents[2]
PLANTED_ENV = ("AWS_SECRET_ACCESS_KEY", "WANDB_API_KEY", "OPENAI_API_KEY", "HF_TOKEN")
"""Deployment keys of the server process: no tenant may ever get them."""
REQUEST_TIMEOUT_S = 30.0
"""Every request of the suite gives up after this long."""
CANARY_MARK = "evaljobs-canary"
"""Part of the name of every canary file: the audit hook watches opens of such paths."""


# ---- evidence: everything the server said during a test


@dataclass
class Evidence:
    """Every HTTP exchange of a test, as text (request line, status, headers, body)."""

    exchanges: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, text: str) -> None:
        with self.lock:
            self.exchanges.append(text)

    def record(self, response: httpx.Response) -> None:
        response.read()
        request = response.request
        self.add(
            f"{request.method} {request.url}\n{response.status_code}\n{response.headers}\n"
            + response.content.decode(errors="replace")
        )


@pytest.fixture
def evidence() -> Evidence:
    return Evidence()


# ---- planted values and the leak check


def _file_texts(root: Path) -> Iterator[tuple[str, bytes]]:
    """(name, raw bytes) of every file under root, and of every member of the zips among them."""
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        try:
            data = path.read_bytes()
        except OSError:  # a file removed while we walk (a WAL checkpoint): nothing left to leak
            continue
        yield str(path), data
        if zipfile.is_zipfile(path):
            try:
                with zipfile.ZipFile(path) as archive:
                    for member in archive.namelist():
                        yield f"{path}!{member}", archive.read(member)
            except (zipfile.BadZipFile, OSError):
                continue


@dataclass
class Planted:
    """Values the server must never reveal, and where to look for them."""

    env: dict[str, str]
    """Planted deployment keys, by environment variable."""
    entity_secrets: dict[tuple[str, str], str]
    """Entity secrets stored in the secret store, by (entity, name)."""
    home: Path
    caplog: pytest.LogCaptureFixture
    capfd: pytest.CaptureFixture[str]
    evidence: Evidence
    output: list[str] = field(default_factory=list)

    @property
    def values(self) -> list[str]:
        """Every value that must not leak."""
        return [*self.env.values(), *self.entity_secrets.values()]

    def _logs(self) -> str:
        captured = self.capfd.readouterr()
        self.output += [captured.out, captured.err]
        records = [
            f"{r.name} {r.getMessage()} {r.exc_text or ''} {r.stack_info or ''}" for r in self.caplog.records
        ]
        return "\n".join([*self.output, self.caplog.text, *records])

    def assert_not_leaked(self, values: Iterable[str] | None = None, *, also: Iterable[str] = ()) -> None:
        """None of `values` (default: every planted value) in any HTTP exchange of the test, any
        file under the evaljobs home (raw bytes, zip members too), the server's logs or output,
        or the extra texts `also` (e.g. what a listener received)."""
        wanted = list(self.values if values is None else values)
        assert wanted, "nothing to look for"
        places: list[tuple[str, bytes]] = [
            *((f"HTTP exchange {i}", text.encode()) for i, text in enumerate(self.evidence.exchanges)),
            *_file_texts(self.home),
            ("server logs and output", self._logs().encode()),
            *((f"extra text {i}", text.encode()) for i, text in enumerate(also)),
        ]
        found = [
            f"{value[:12]}… in {where}"
            for value in wanted
            for where, data in places
            if value.encode() in data
        ]
        assert not found, "planted values leaked:\n" + "\n".join(found)


@pytest.fixture
def planted(
    home: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
    evidence: Evidence,
) -> Planted:
    """Distinctive deployment keys in the server's environment; the server's logs captured."""
    env = {name: f"planted-{name.lower().replace('_', '-')}-{uuid.uuid4().hex}" for name in PLANTED_ENV}
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("EVALJOBS_WANDB_MODE", "disabled")  # no W&B files: runner tests stay fast
    monkeypatch.setenv("EVALJOBS_WEAVE", "off")  # offline: the planted W&B key must not reach for Weave
    get_settings.cache_clear()
    caplog.set_level(logging.INFO)  # every library's warnings and info, uvicorn's access log
    for name in ("evaljobs", "functions", "runners"):
        caplog.set_level(logging.DEBUG, logger=name)  # and everything of ours
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access", "uvicorn.asgi"):
        # an earlier server's dictConfig may have cut these off from the root logger, and left
        # them a handler on a stream an earlier test's capture has closed
        monkeypatch.setattr(logging.getLogger(name), "propagate", True)
        monkeypatch.setattr(logging.getLogger(name), "handlers", [])
    return Planted(env, {}, home, caplog, capfd, evidence)


# ---- file reads: an audit hook that notices any open of a canary path


_opened: list[str] | None = None


def _audit(event: str, args: tuple[Any, ...]) -> None:
    if event == "open" and _opened is not None and args:
        path = args[0]
        text = path.decode(errors="replace") if isinstance(path, bytes) else str(path)
        if CANARY_MARK in text:
            _opened.append(text)


_hook_installed = False


@pytest.fixture
def canary_reads(home: Path) -> Iterator[tuple[Path, list[str]]]:
    """A canary file in the evaljobs home and one beside it, and the list of their opens by
    anyone in this process (the server) while the test runs. Audit hooks cannot be removed:
    the one hook stays, idle outside this fixture."""
    global _hook_installed, _opened
    if not _hook_installed:
        sys.addaudithook(_audit)
        _hook_installed = True
    secret = f"canary-content-{uuid.uuid4().hex}"
    home.mkdir(parents=True, exist_ok=True)
    for path in (home / f"{CANARY_MARK}.txt", home.parent / f"{CANARY_MARK}.txt"):
        path.write_text(secret)
    opened: list[str] = []
    _opened = opened
    try:
        yield home / f"{CANARY_MARK}.txt", opened
    finally:
        _opened = None


# ---- the server


class RecordingExecutor:
    """Records dispatched job ids and runs none of them; `run_dispatched()` then runs them in the
    calling thread, as a runner process would (the runner's SIGTERM handler needs the main
    thread, and a request handler is not one)."""

    def __init__(self, registry: SqliteRegistry, settings: Settings) -> None:
        self.registry, self.settings = registry, settings
        self.dispatched: list[str] = []
        self._ran: set[str] = set()
        self._lock = threading.Lock()

    def dispatch(self, job_id: str) -> None:
        with self._lock:
            self.dispatched.append(job_id)

    def run_dispatched(self) -> list[str]:
        """Run every dispatched job not run yet, one after another; returns their ids."""
        from runners.job import run_job

        with self._lock:
            todo = [j for j in self.dispatched if j not in self._ran]
            self._ran.update(todo)
        for job_id in todo:
            run_job(job_id, self.registry, self.settings)
        return todo


@dataclass
class Tenant:
    """One entity's credentials and its one stored secret."""

    entity: str
    token: str
    """A member's API token."""
    admin_token: str
    """An admin's API token (the member's where the stores have no admin tokens)."""
    webhook_token: str
    webhook_secret: str
    secret_name: str
    """Name of the secret stored for this entity."""


Snapshot = dict[str, list[str]]
_VOLATILE = re.compile(r"last_used|used_at|seen_at")
"""Columns a read may legitimately touch (a token's last use); left out of snapshots."""


@dataclass
class Server:
    """The running app and handles on its state."""

    url: str
    port: int
    settings: Settings
    registry: SqliteRegistry
    triggers: SqliteTriggerStore
    executor: RecordingExecutor
    a: Tenant
    b: Tenant
    evidence: Evidence

    def client(self, token: str | None = None) -> httpx.Client:
        """An HTTP client (bearer `token`) whose every exchange is kept as evidence."""
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(
            base_url=self.url,
            headers=headers,
            timeout=REQUEST_TIMEOUT_S,
            event_hooks={"response": [self.evidence.record]},
        )

    def raw(
        self, method: str, target: str, *, token: str | None = None, body: bytes | None = None
    ) -> tuple[int, bytes]:
        """One request with `target` sent byte for byte (httpx would normalise `..` and escapes)."""
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=REQUEST_TIMEOUT_S)
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        if body is not None:
            headers["Content-Type"] = "application/json"
        try:
            connection.request(method, target, body=body, headers=headers)
            response = connection.getresponse()
            data = response.read()
            self.evidence.add(f"{method} {target}\n{response.status}\n{response.headers}\n{data!r}")
            return response.status, data
        finally:
            connection.close()

    def deliver(
        self,
        tenant: Tenant,
        payload: dict[str, Any] | bytes,
        *,
        secret: str | None = "",
        token: str | None = None,
        encoding: str = "base64",
    ) -> httpx.Response:
        """A W&B webhook delivery with `tenant`'s credentials (or the `secret`/`token` given;
        `secret=None` sends no signature), signed in base64 or hex."""
        body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        headers = {
            "Authorization": f"Bearer {token or tenant.webhook_token}",
            "Content-Type": "application/json",
        }
        key = tenant.webhook_secret if secret == "" else secret
        if key is not None:
            digest = hmac.new(key.encode(), body, hashlib.sha256).digest()
            signature = base64.b64encode(digest).decode() if encoding == "base64" else digest.hex()
            headers["X-Wandb-Signature"] = signature
        with self.client() as client:
            return client.post("/webhooks/wandb", content=body, headers=headers)

    def snapshot(self) -> Snapshot:
        """Every row of every table of the registry file, and the dispatched job ids."""
        state: Snapshot = {"(dispatched)": sorted(self.executor.dispatched)}
        db = sqlite3.connect(self.settings.db_path, timeout=30)
        try:
            tables = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
            for table in sorted(tables):
                cursor = db.execute(f'SELECT * FROM "{table}"')
                keep = [i for i, d in enumerate(cursor.description) if not _VOLATILE.search(d[0])]
                state[table] = sorted(repr(tuple(row[i] for i in keep)) for row in cursor.fetchall())
        finally:
            db.close()
        return state

    def assert_unchanged(self, before: Snapshot) -> None:
        """Nothing was written or dispatched since `before`."""
        after = self.snapshot()
        changed = {
            table: {
                "added": sorted(set(rows) - set(before.get(table, []))),
                "removed": sorted(set(before.get(table, [])) - set(rows)),
            }
            for table, rows in after.items()
            if rows != before.get(table)
        }
        assert not changed, f"the stores changed: {changed}"


def _token(triggers: SqliteTriggerStore, name: str, entity: str, admin: bool) -> str:
    """A token; an admin's where the store knows admin tokens (the API's policy and secret
    routes may ask for one), a member's otherwise."""
    if admin and "admin" in inspect.signature(triggers.create_token).parameters:
        return triggers.create_token(name, [entity], admin=True)  # type: ignore[call-arg]
    return triggers.create_token(name, [entity])


@pytest.fixture
def server(planted: Planted, evidence: Evidence) -> Iterator[Server]:
    """`evaljobs serve`'s app (scheduler waiting, no worker pool) on a loopback port."""
    settings = get_settings()
    app = build_app(settings, workers=0, scheduler_poll_s=3600)
    registry = SqliteRegistry(settings.db_path)
    executor = RecordingExecutor(registry, settings)
    app.state.services.executor = executor  # the scheduler and every route share this object
    triggers = SqliteTriggerStore(settings.db_path)
    secrets = open_secret_store(settings)
    tenants = []
    for entity, secret_name in (("team-a", "A_KEY"), ("team-b", "ONLY_B")):
        value = f"planted-{entity}-secret-{uuid.uuid4().hex}"
        secrets.put_secret(entity, secret_name, value)
        planted.entity_secrets[(entity, secret_name)] = value
        webhook_token, webhook_secret = triggers.create_webhook(entity)
        tenants.append(
            Tenant(
                entity=entity,
                token=_token(triggers, entity, entity, admin=False),
                admin_token=_token(triggers, f"{entity}-admin", entity, admin=True),
                webhook_token=webhook_token,
                webhook_secret=webhook_secret,
                secret_name=secret_name,
            )
        )
    with live_server(app, capture_logs=True) as url:
        yield Server(
            url=url,
            port=int(url.rsplit(":", 1)[1]),
            settings=settings,
            registry=registry,
            triggers=triggers,
            executor=executor,
            a=tenants[0],
            b=tenants[1],
            evidence=evidence,
        )


# ---- a listener that stands in for a model server a job might call


class Listener:
    """A loopback HTTP server that records every request's line, headers and body, and answers
    each with an OpenAI-style error (so a client gives up at once)."""

    def __init__(self) -> None:
        self.requests: list[str] = []
        received, lock = self.requests, threading.Lock()

        class Handler(BaseHTTPRequestHandler):
            def _record(self) -> None:
                length = min(int(self.headers.get("Content-Length") or 0), 1 << 20)
                body = self.rfile.read(length).decode(errors="replace")
                with lock:
                    received.append(f"{self.command} {self.path}\n{self.headers}\n{body}")
                answer = json.dumps({"error": {"message": "no model here", "type": "invalid_request_error"}})
                self.send_response(400)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(answer.encode())

            do_GET = do_POST = do_PUT = _record

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"


@pytest.fixture
def listener() -> Iterator[Listener]:
    found = Listener()
    try:
        yield found
    finally:
        found.server.shutdown()
        found.server.server_close()


# ---- documents


def api_job(entity: str = "team-a", **extra: Any) -> dict[str, Any]:
    """A valid hosted-model job (loopback base_url, nothing listening on port 9)."""
    return {
        "entity": entity,
        "project": "nightly",
        "model": {"api": {"model": "openai-api/local/gemma", "base_url": "http://127.0.0.1:9/v1"}},
        "benchmarks": [{"id": "boolq", "scoring": "generate"}],
        "limit": 2,
        "retries": 0,
        **extra,
    }


def artifact_event(entity: str = "team-a", version: str = "v3", **extra: Any) -> dict[str, Any]:
    """A W&B artifact event, as the README's payload template renders it."""
    return {
        "event_type": "CREATE_ARTIFACT",
        "event_author": "alice",
        "alias": "${alias}",
        "artifact_version": f"wandb-artifact://_id/{entity}-{version}",
        "artifact_version_string": f"{entity}/pretrain/gemma-270m:{version}",
        "artifact_collection_name": "gemma-270m",
        "project_name": "pretrain",
        "entity_name": entity,
        **extra,
    }


def webhook_policy(entity: str = "team-a", name: str = "new-checkpoints") -> dict[str, Any]:
    """A webhook policy that takes every gemma-* artifact event of `entity`."""
    return {
        "name": name,
        "entity": entity,
        "match": {"collection": "gemma-*", "event_type": ["CREATE_ARTIFACT", "ADD_ARTIFACT_ALIAS"]},
        "job": {"benchmarks": [{"id": "boolq", "scoring": "generate"}], "limit": 2, "project": "evals"},
    }
