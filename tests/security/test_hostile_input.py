"""Hostile input: traversal in ids and paths, SQL metacharacters, malformed and deeply nested
JSON, stored XSS, floods of benchmarks, megabyte fields, a cron expression that never fires.
Each is refused with a 4xx that says what to fix, reads no file, writes nothing, and leaves
the server answering."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from evaljobs.records import BenchmarkResult, JobStatus
from tests.security.conftest import CANARY_MARK, REPO_ROOT, Planted, Server, api_job

FILE_MARKERS = (
    "canary-content-",
    "[tool.pytest",
    "class Settings(BaseSettings)",
    "SQLite format 3",
    "root:x:0:0",
)
"""Text that would only be in an answer if the server had served a file it must not."""


def assert_healthy(server: Server) -> None:
    with server.client() as client:
        assert client.get("/health").status_code == 200


# ---- path traversal


TRAVERSALS = [
    f"/jobs/..%2f..%2f{CANARY_MARK}.txt",
    f"/jobs/..%2F..%2F{CANARY_MARK}.txt/log",
    f"/jobs/%2e%2e%2f%2e%2e%2f{CANARY_MARK}.txt/log",
    f"/jobs/%2e%2e%2f%2e%2e%2f{CANARY_MARK}.txt/config.yaml",
    f"/jobs/../../{CANARY_MARK}.txt/log",
    f"/jobs/..%252f..%252f{CANARY_MARK}.txt/log",
    f"/jobs/..%5c..%5c{CANARY_MARK}.txt/log",
    "/jobs/%2e%2e/log",
    "/jobs/..;/log",
    "/jobs/%00/log",
    f"/jobs/{{home}}%2f{CANARY_MARK}.txt/log",
    f"/ui/../../{CANARY_MARK}.txt",
    f"/ui/..%2f..%2f..%2f{CANARY_MARK}.txt",
    "/ui/..%2f..%2f..%2fpyproject.toml",
    "/ui/%2e%2e/%2e%2e/%2e%2e/pyproject.toml",
    "/ui/%2e%2e/%2e%2e/%2e%2e/evaljobs/settings.py",
    "/ui/..%5c..%5c..%5cpyproject.toml",
    "/ui/%2e%2e%2f%2e%2e%2f%2e%2e%2f%2e%2e%2f%2e%2e%2f%2e%2e%2f%2e%2e%2fetc%2fpasswd",
    f"/leaderboards/team-a/..%2f..%2f{CANARY_MARK}.txt",
    f"/compare?b=..%2f..%2f{CANARY_MARK}.txt",
]


def test_traversal_in_ids_and_paths_never_reads_a_file(
    server: Server, planted: Planted, canary_reads: tuple[Path, list[str]]
) -> None:
    """Each target sent byte for byte (`..`, encoded and double-encoded slashes, backslashes,
    NUL), by GET and POST: a 4xx, no file's content, and no open of the canary files."""
    canary, opened = canary_reads
    before = server.snapshot()
    for target in TRAVERSALS:
        target = target.replace("{home}", str(canary.parent).replace("/", "%2f"))
        for method in ("GET", "POST"):
            status, body = server.raw(method, target, token=server.a.token)
            assert status in (400, 403, 404, 405, 422), (method, target, status, body[:200])
            assert not [m for m in FILE_MARKERS if m.encode() in body], (method, target, body[:200])
        assert opened == [], f"{target}: the server opened {opened}"
    server.assert_unchanged(before)
    assert_healthy(server)
    planted.assert_not_leaked()


def test_traversal_in_a_query_of_ones_own_job_reads_no_file(
    server: Server, planted: Planted, canary_reads: tuple[Path, list[str]]
) -> None:
    canary, opened = canary_reads
    with server.client(server.a.token) as a:
        job_id = a.post("/jobs", json=api_job()).json()["id"]
        server.registry.transition(job_id, JobStatus.RUNNING)
        result = BenchmarkResult(
            benchmark="boolq", task="boolq", status="success", log_path="/nonexistent.eval"
        )
        server.registry.finish(job_id, JobStatus.SUCCEEDED, [result], None)
        before = server.snapshot()
        for benchmark in (
            f"../../{CANARY_MARK}.txt",
            str(canary),
            f"..%2f{CANARY_MARK}.txt",
            "boolq/../../x",
        ):
            answer = a.get(f"/jobs/{job_id}/samples", params={"benchmark": benchmark})
            assert answer.status_code == 404 and "has no results for" in answer.json()["detail"]
    assert opened == []
    server.assert_unchanged(before)
    planted.assert_not_leaked()


def _checkpoint_uris(server: Server, canary: Path) -> list[str]:
    models = server.settings.models_dir
    return [
        "/etc",
        f"/nonexistent-{canary.stat().st_ino}",
        str(canary.parent),
        f"file://{canary}",
        f"{models}/../../../../../../etc",
        f"{models}/../{CANARY_MARK}.txt",
        "~/.ssh",
        "../../../../../../etc",
    ]


def test_a_checkpoint_path_outside_the_model_roots_is_refused_alike_and_never_opened(
    server: Server, planted: Planted, canary_reads: tuple[Path, list[str]]
) -> None:
    """Whether the folder exists or not, the same 422: no oracle of the server's files."""
    canary, opened = canary_reads
    before = server.snapshot()
    answers = []
    with server.client(server.a.token) as a:
        for uri in _checkpoint_uris(server, canary):
            answer = a.post("/jobs", json=api_job(model={"checkpoint": {"uri": uri}}))
            assert answer.status_code == 422, (uri, answer.text)
            answers.append(answer.json())
    assert all(answer == answers[0] for answer in answers), answers
    [issue] = answers[0]["errors"]
    assert issue["pointer"] == "/model/checkpoint/uri" and "EVALJOBS_LOCAL_MODEL_ROOTS" in issue["message"]
    assert opened == []
    server.assert_unchanged(before)
    planted.assert_not_leaked()


@pytest.mark.parametrize("template", ["/proc/self/environ", "{home}/secrets.key", "{canary}"])
def test_a_tenants_chat_template_cannot_name_a_server_file(
    server: Server, planted: Planted, canary_reads: tuple[Path, list[str]], template: str
) -> None:
    canary, _ = canary_reads
    template = template.replace("{home}", str(server.settings.home)).replace("{canary}", str(canary))
    model = {"checkpoint": {"uri": "team-a/pretrain/gemma-270m:v3", "chat_template": template}}
    before = server.snapshot()
    with server.client(server.a.token) as a:
        answer = a.post("/jobs", json=api_job(model=model))
    assert answer.status_code == 422, f"queued a job whose chat template is {template}: {answer.text}"
    assert answer.json()["errors"][0]["pointer"] == "/model/checkpoint/chat_template"
    server.assert_unchanged(before)
    planted.assert_not_leaked()


# ---- SQL metacharacters


SQL_VALUES = [
    "' OR '1'='1",
    "job-x'; DROP TABLE jobs;--",
    '" OR 1=1 --',
    "%' OR 1=1 --",
    "team-b' OR entity='team-b",
    "1) UNION SELECT id, doc FROM jobs --",
    "\\' OR 1=1 #",
    "*",
    "%",
    "_",
]


def test_sql_metacharacters_in_ids_and_queries_are_data(server: Server, planted: Planted) -> None:
    a, b = server.client(server.a.token), server.client(server.b.token)
    own = a.post("/jobs", json=api_job()).json()["id"]
    theirs = b.post("/jobs", json=api_job("team-b")).json()["id"]
    before = server.snapshot()
    started = time.monotonic()
    for value in SQL_VALUES:
        for method, path in (
            ("GET", "/jobs/{v}"),
            ("GET", "/jobs/{v}/log"),
            ("GET", "/jobs/{v}/config.yaml"),
            ("POST", "/jobs/{v}/cancel"),
            ("POST", "/jobs/{v}/rerun"),
        ):
            answer = a.request(method, path.replace("{v}", quote(value, safe="")))
            assert answer.status_code == 404, (path, value, answer.text)
        for params in ({"project": value}, {"trigger": value[:20]}):
            listed = a.get("/jobs", params=params)
            assert listed.status_code == 200 and listed.json() == [], (params, listed.text)
        board = a.get(f"/leaderboards/team-a/{quote(value, safe='')}")
        assert board.status_code == 200 and board.json() == []
        assert a.get(f"/leaderboards/{quote(value, safe='')}/nightly").status_code == 403
        assert a.get("/compare", params={"b": value}).status_code == 404
        assert a.get("/jobs", params={"status": value}).status_code == 422
        assert a.get("/deliveries", params={"limit": f"1; {value}"}).status_code == 422
    assert time.monotonic() - started < 30
    server.assert_unchanged(before)
    assert [j["id"] for j in a.get("/jobs").json()] == [own]
    assert [j["id"] for j in b.get("/jobs").json()] == [theirs]
    planted.assert_not_leaked()


# ---- malformed and deeply nested JSON


BODIES = {
    "not json": b"{not json",
    "empty": b"",
    "invalid utf-8": b"\xff\xfe\xfd",
    "null": b"null",
    "a list": b"[1, 2]",
    "a string": b'"job"',
    "100k levels of [": b"[" * 100_000,
    "100k levels of {": b'{"a":' * 100_000,
    "100k levels, closed": b"[" * 100_000 + b"]" * 100_000,
    "NaN limit": b'{"entity": "team-a", "model": {"api": {"model": "a/b"}}, "benchmarks": [], "limit": NaN}',
    "huge number": b'{"entity": "team-a", "limit": 1' + b"0" * 5000 + b"}",
    "50k duplicate keys": b"{" + b'"entity": "team-a", ' * 50_000 + b'"entity": "team-b"}',
}


def test_malformed_and_deeply_nested_json_is_4xx_and_the_server_still_answers(
    server: Server, planted: Planted
) -> None:
    before = server.snapshot()
    with server.client(server.a.admin_token) as client:
        for name, body in BODIES.items():
            for method, path in (("POST", "/jobs"), ("PUT", "/policies/p")):
                started = time.monotonic()
                answer = client.request(
                    method, path, content=body, headers={"Content-Type": "application/json"}
                )
                assert 400 <= answer.status_code < 500, (name, path, answer.status_code, answer.text[:300])
                assert time.monotonic() - started < 10, (name, path)
                assert len(answer.content) < 10_000, f"{name}: the error echoes the body"
            assert_healthy(server)
    server.assert_unchanged(before)
    assert_healthy(server)
    planted.assert_not_leaked()


WEBHOOK_PARSER_GAPS = ["100k levels of [", "100k levels of {", "100k levels, closed", "huge number"]


def test_a_signed_malformed_webhook_body_is_4xx_and_the_server_still_answers(
    server: Server, planted: Planted
) -> None:
    """Signed with the entity's real credentials, so each body reaches the webhook's parser."""
    before = server.snapshot()
    for name, body in BODIES.items():
        if name in WEBHOOK_PARSER_GAPS:
            continue
        started = time.monotonic()
        answer = server.deliver(server.a, body)
        assert time.monotonic() - started < 10, name
        assert 400 <= answer.status_code < 500, (name, answer.status_code, answer.text[:300])
        assert len(answer.content) < 10_000, f"{name}: the error echoes the body"
    server.assert_unchanged(before)
    assert_healthy(server)
    planted.assert_not_leaked()


@pytest.mark.parametrize("name", WEBHOOK_PARSER_GAPS)
def test_a_signed_webhook_body_nested_too_deep_or_with_a_huge_number_is_4xx(
    server: Server, planted: Planted, name: str
) -> None:
    before = server.snapshot()
    answer = server.deliver(server.a, BODIES[name])
    assert 400 <= answer.status_code < 500, (answer.status_code, answer.text[:300])
    server.assert_unchanged(before)
    assert_healthy(server)
    planted.assert_not_leaked()


# ---- stored XSS: the API returns it as data, the UI inserts it as text


XSS = '<img src=x onerror="alert(1)"><script>alert(document.cookie)</script>'


def test_a_script_in_a_job_name_comes_back_as_json_data(server: Server, planted: Planted) -> None:
    with server.client(server.a.token) as a:
        created = a.post("/jobs", json=api_job(name=XSS))
        assert created.status_code == 201, created.text
        job_id = created.json()["id"]
        one, listed = a.get(f"/jobs/{job_id}"), a.get("/jobs")
        for answer in (one, listed):
            assert answer.headers["content-type"] == "application/json"
            assert answer.headers["x-content-type-options"] == "nosniff"
        assert one.json()["name"] == XSS and [j["name"] for j in listed.json()] == [XSS]
    with server.client() as anonymous:
        page = anonymous.get("/ui/")
    policy = page.headers["content-security-policy"]
    assert "default-src 'self'" in policy and "unsafe-inline" not in policy
    assert page.headers["x-frame-options"] == "DENY"
    planted.assert_not_leaked()


UI_SCRIPT = REPO_ROOT / "functions" / "ui" / "app.js"
HTML_SINKS = [
    r"\.innerHTML\b",
    r"\.outerHTML\b",
    r"insertAdjacentHTML",
    r"document\.write",
    r"\beval\s*\(",
    r"\bnew\s+Function\b",
    r"createContextualFragment",
    r"\bDOMParser\b",
    r"\bsrcdoc\b",
    r"set(?:Timeout|Interval)\(\s*[\"'`]",
    r"javascript:",
]


def _function_body(source: str, name: str) -> str:
    match = re.search(rf"^function {name}\(.*?^\}}$", source, re.M | re.S)
    assert match, f"app.js has no function {name}"
    return match.group(0)


def test_the_ui_inserts_api_values_as_text_only() -> None:
    """A static reading of functions/ui/app.js: no HTML-parsing sink anywhere; the element
    builders turn every non-node child into a text node; links built from API values stay
    in-page (`#/…`); no attribute name or handler comes from data."""
    source = UI_SCRIPT.read_text()
    for sink in HTML_SINKS:
        assert not re.search(sink, source), f"app.js uses {sink}"
    for builder in ("h", "svg"):
        body = _function_body(source, builder)
        assert "document.createTextNode" in body, f"{builder}() must insert strings as text nodes"
        assert not re.search(r"\.(innerHTML|outerHTML|insertAdjacentHTML)", body)
    # h() turns `on…` keys into listeners: every attribute object must spell its keys out
    assert not re.search(r"\{\s*\.\.\.", source), "an attribute object spreads data into attributes"
    assert not re.search(r"\{\s*\[[^\]]+\]\s*:", source), "an attribute name is computed from data"
    # every link: in-page (#/…), or the object URL of a download
    hrefs = re.findall(r"\bhref:\s*([^,}]+)", source)
    assert hrefs, "expected links in app.js"
    for value in hrefs:
        value = value.strip()
        assert value.startswith(("`#", '"#', "'#")) or value in ("url", "c.link(r)"), f"href: {value}"
    links = re.findall(r"\blink:\s*\(\w+\)\s*=>\s*(\S+)", source)
    assert links and all(v.startswith("`#") for v in links), links
    # text written into existing elements goes through textContent, never markup
    for match in re.finditer(r"\.(\w+)\s*=\s*[^=]", source):
        assert match.group(1) not in ("innerHTML", "outerHTML", "src", "srcdoc"), match.group(0)
    styles = re.findall(r"\bstyle:\s*([^,}]+)", source)
    assert all(s.strip().startswith(('"', "'")) for s in styles), f"a style from data: {styles}"


# ---- floods and megabytes


def test_twenty_thousand_benchmark_ids_are_refused_at_once(server: Server, planted: Planted) -> None:
    before = server.snapshot()
    with server.client(server.a.token) as a:
        started = time.monotonic()
        answer = a.post("/jobs", json=api_job(benchmarks=["boolq"] * 20_000))
        elapsed = time.monotonic() - started
    assert answer.status_code == 422 and elapsed < 5
    [issue] = answer.json()["errors"]
    assert issue["pointer"] == "/benchmarks" and "at most 200" in issue["message"]
    assert len(answer.content) < 10_000
    server.assert_unchanged(before)
    planted.assert_not_leaked()


@pytest.mark.parametrize(
    ("field", "doc"),
    [
        ("/name", {"name": "n" * 1_000_000}),
        ("/project", {"project": "p" * 1_000_000}),
        ("/model/api/model", {"model": {"api": {"model": "a/" + "m" * 1_000_000}}}),
        ("/benchmarks/0", {"benchmarks": ["b" * 1_000_000]}),
        ("/generation/surprise", {"generation": {"surprise" + "s" * 1_000_000: 1}}),
    ],
)
def test_a_megabyte_value_gets_a_small_422_that_does_not_echo_it(
    server: Server, planted: Planted, field: str, doc: dict[str, Any]
) -> None:
    before = server.snapshot()
    with server.client(server.a.token) as a:
        answer = a.post("/jobs", json=api_job(**doc))
    assert answer.status_code == 422, answer.text[:300]
    assert len(answer.content) < 10_000, f"{len(answer.content)} bytes of error"
    pointers = [e["pointer"] for e in answer.json()["errors"]]
    assert any(p == field or field.startswith(p) or p.startswith(field[:10]) for p in pointers), pointers
    server.assert_unchanged(before)
    planted.assert_not_leaked()


def test_a_body_over_the_cap_is_413_before_it_is_read(server: Server, planted: Planted) -> None:
    before = server.snapshot()
    with server.client(server.a.token) as a:
        answer = a.post(
            "/jobs",
            content=b'{"name": "' + b"n" * (2 << 20) + b'"}',
            headers={"Content-Type": "application/json"},
        )
    assert answer.status_code == 413 and len(answer.content) < 1024
    server.assert_unchanged(before)
    planted.assert_not_leaked()


def test_not_found_answers_do_not_echo_a_long_id(server: Server, planted: Planted) -> None:
    with server.client(server.a.token) as a:
        own = a.post("/jobs", json=api_job()).json()["id"]
        answers = [
            a.get("/jobs/" + "x" * 8000),
            a.get("/compare", params={"b": "y" * 8000}),
            a.get(f"/jobs/{own}/samples", params={"benchmark": "z" * 8000}),
        ]
    for answer in answers:
        assert answer.status_code == 404
        assert len(answer.content) < 1024, f"{len(answer.content)} bytes: {answer.text[:80]}…"
    planted.assert_not_leaked()


# ---- a cron expression that never fires


def test_a_cron_schedule_that_never_fires_is_refused_at_put(server: Server, planted: Planted) -> None:
    job = api_job()
    job.pop("entity")
    policy = {"name": "poison", "entity": "team-a", "schedule": "0 0 30 2 *", "job": job}
    before = server.snapshot()
    with server.client(server.a.admin_token) as admin:
        answer = admin.put("/policies/poison", json=policy)
        assert answer.status_code == 422, answer.text
        [issue] = answer.json()["errors"]
        assert issue["pointer"] == "/schedule"
        assert "never fires" in issue["message"] and "give a date that exists" in issue["message"]
        assert admin.get("/policies/poison").status_code == 404
    server.assert_unchanged(before)
    assert_healthy(server)
    planted.assert_not_leaked()
