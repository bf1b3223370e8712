"""The web UI in headless Chromium (Debian's), over `evaljobs serve`'s app on a real port.

Two real jobs (the embedded Gemma, then the embedded SmolLM2 Instruct, on the same ARC-Easy
and BoolQ samples by log-likelihood, each against its shared vLLM CPU server) fill a project;
the browser signs in with a token, sorts, filters, groups, chooses and pins columns, exports
(compared with the API's own export), runs the copied Python snippet, opens a job with its
samples and compares the two models.

`EVALJOBS_SCREENSHOTS=docs/ui pytest tests/functions/test_web_ui.py` also writes the pages'
screenshots for the docs.
"""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from evaljobs.records import JobStatus, Trigger
from evaljobs.settings import get_settings
from evaljobs.stores.sqlite_registry import SqliteRegistry
from evaljobs.stores.sqlite_triggers import SqliteTriggerStore
from functions.serve import build_app
from functions.submit import submit_job
from runners.executor import get_executor
from tests.support.live_server import live_server

pytestmark = pytest.mark.vllm

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SHOTS = os.environ.get("EVALJOBS_SCREENSHOTS")
# a page part rendered as the bare text "null" (a skipped optional element)
STRAY_TEXT = (
    "[...document.getElementById('view').childNodes]"
    ".some(n => n.nodeType === 3 && /null|undefined/.test(n.textContent))"
)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        message = "Debian's chromium is not installed (apt-get install chromium; `make browser`)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def site(
    home: Path, server: Any, instruct_server: Any, monkeypatch: pytest.MonkeyPatch
) -> Iterator[dict[str, Any]]:
    """The app on a port, a token, and two finished jobs of project `ui`: the embedded Gemma,
    then the embedded SmolLM2 Instruct on the same samples (two models to compare)."""
    monkeypatch.setenv(
        "EVALJOBS_EXECUTOR", "local"
    )  # runner subprocesses (Playwright owns this thread's loop)
    monkeypatch.setenv("VLLM_KEY", server.api_key)
    monkeypatch.setenv("EVALJOBS_SECRETS_FROM_ENV", "1")  # the operator's own CLI-submitted jobs
    get_settings.cache_clear()
    settings = get_settings()
    registry = SqliteRegistry(settings.db_path)
    doc = {
        "project": "ui",
        "name": "gemma-270m-ll",
        "model": {
            "api": {
                "model": f"openai-api/vllm/{server.model}",
                "base_url": server.base_url,
                "api_key": "secret://VLLM_KEY",
            }
        },
        "benchmarks": [
            {"id": "arc_easy", "scoring": "loglikelihood"},
            {"id": "boolq", "scoring": "loglikelihood"},
        ],
        "limit": 24,
    }
    executor = get_executor(settings, registry)
    jobs = []
    for i, served in enumerate((server, instruct_server)):
        api = {"model": f"openai-api/vllm/{served.model}", "base_url": served.base_url}
        job = submit_job(
            {**doc, "name": served.model, "model": {"api": {**doc["model"]["api"], **api}}},
            trigger=Trigger(kind="cli", detail={"n": i}),
            registry=registry,
            executor=executor,
            settings=settings,
        )
        deadline = time.monotonic() + 900
        while not registry.get(job.id).status.terminal and time.monotonic() < deadline:
            time.sleep(1)
        assert registry.get(job.id).status is JobStatus.SUCCEEDED, registry.get(job.id).error
        jobs.append(job.id)
    token = SqliteTriggerStore(settings.db_path).create_token("ui", ["*"])
    with live_server(build_app(settings, workers=0, scheduler_poll_s=3600)) as url:
        yield {"url": url, "token": token, "jobs": jobs}


def _shot(page: Any, name: str) -> None:
    if SHOTS:
        Path(SHOTS).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(SHOTS) / f"{name}.png"))


def _column(page: Any, key: str) -> list[str]:
    return [
        c.strip() for c in page.locator(f"#view tbody tr:not(.group) td[data-col={key}]").all_inner_texts()
    ]


def test_leaderboard_job_and_compare_pages_in_chromium(browser: Any, site: dict[str, Any]) -> None:
    url, token, (job_a, job_b) = site["url"], site["token"], site["jobs"]
    api = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=60)
    context = browser.new_context(viewport={"width": 1400, "height": 900}, accept_downloads=True)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))

    # without a token the page says what to do; with one, the projects appear
    page.goto(f"{url}/")
    assert "Paste an API token" in page.locator("#view").inner_text()
    page.fill("#token", token)
    page.click("#token-form button")
    page.get_by_role("link", name="local/ui").click()

    # leaderboard: 2 jobs × 2 benchmarks, values with their intervals
    page.wait_for_selector("#view tbody tr")
    rows = api.get("/leaderboards/local/ui").json()
    assert len(rows) == 4 and page.locator("#view tbody tr").count() == 4
    assert page.locator("svg.cibar").count() == 4
    _shot(page, "leaderboard")

    # sort by value: descending, then ascending
    page.click("th[data-col=value]")
    values = [float(v) for v in _column(page, "value")]
    assert values == sorted(values, reverse=True)
    page.click("th[data-col=value]")
    assert [float(v) for v in _column(page, "value")] == sorted(values)

    # filter, then group by benchmark
    page.fill("input[name=filter]", "boolq")
    assert set(_column(page, "benchmark")) == {"boolq"} and len(_column(page, "benchmark")) == 2
    page.fill("input[name=filter]", "")
    page.select_option("select[name=group]", "benchmark")
    assert page.locator("tr.group").all_inner_texts() == ["arc_easy (2)", "boolq (2)"]

    # choose and pin columns (and the choice survives a reload)
    page.click("details.columns summary")
    page.uncheck("input[name=show-finished_at]")
    page.check("input[name=show-wall_time_s]")
    page.check("input[name=pin-model]")
    headers = page.locator("thead th").all_inner_texts()
    assert "finished" not in headers and "wall s" in headers
    assert [h.strip() for h in headers[1:3]] == ["benchmark", "model"]  # pinned first, in place
    assert "pinned" in (page.locator("th[data-col=model]").get_attribute("class") or "")
    assert not page.evaluate(STRAY_TEXT)
    page.reload()
    page.wait_for_selector("#view tbody tr")
    assert "wall s" in page.locator("thead th").all_inner_texts()

    # exports equal the API's
    with page.expect_download() as download:
        page.get_by_role("button", name="Export CSV").click()
    exported = Path(download.value.path()).read_text()
    assert exported == api.get("/leaderboards/local/ui", params={"format": "csv"}).text
    assert {r["job_id"] for r in csv.DictReader(io.StringIO(exported))} == {job_a, job_b}
    with page.expect_download() as download:
        page.get_by_role("button", name="Export JSONL").click()
    lines = [json.loads(x) for x in Path(download.value.path()).read_text().splitlines()]
    assert lines == rows

    # the Python snippet runs and fetches the same rows
    page.click("details.snippets summary")
    snippet = page.locator("pre[data-snippet=python]").inner_text()
    done = subprocess.run(
        [sys.executable, "-c", snippet],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "EVALJOBS_TOKEN": token},
    )
    assert done.returncode == 0, done.stderr
    assert len(done.stdout.splitlines()) == 4
    assert page.locator("pre[data-snippet=curl]").inner_text().startswith("curl -H")
    if shutil.which("curl"):
        curl = page.locator("pre[data-snippet=curl]").inner_text()
        fetched = subprocess.run(
            ["bash", "-c", curl],
            capture_output=True,
            text=True,
            timeout=60,
            env={**os.environ, "EVALJOBS_TOKEN": token},
        )
        assert fetched.stdout == exported

    # a job page: metrics with intervals, samples from the eval log, config, log
    page.locator(f"tr[data-job={job_a}][data-benchmark=arc_easy] td[data-col=job_id] a").click()
    page.wait_for_selector("#metrics")
    job = api.get(f"/jobs/{job_a}").json()
    assert page.locator("#metrics tbody tr").count() == sum(len(r["metrics"]) for r in job["results"])
    page.wait_for_selector("#samples .sample")
    assert page.locator("#samples .sample").count() == 10
    first = page.locator("#samples .sample").first
    assert first.locator("pre[data-field=output]").inner_text() not in ("", "(empty)")
    assert first.locator("pre[data-field=target]").inner_text()
    assert "1–10 of 24" in page.locator("#samples").inner_text()
    for sample in page.locator("#samples .sample").all():  # the output shown is the primary metric's pick
        output = sample.locator("pre[data-field=output]").inner_text()
        target = sample.locator("pre[data-field=target]").inner_text()
        correct = sample.locator("[data-field=value]").inner_text().endswith("1.00")
        assert (output[0] == target) is correct, (output, target)
    assert not page.evaluate(STRAY_TEXT)
    _shot(page, "job")
    page.get_by_role("button", name="Next ›").click()
    # a selector, not wait_for_function: the page's CSP forbids the eval that one would need
    page.wait_for_selector("#samples:has-text('11–20 of 24')")
    assert "tasks:" in page.locator("#config").inner_text()
    assert f"job {job_a}" in page.locator("#log").inner_text()

    # compare: the two models, bars with intervals, and the paired verdicts, as the API gives them
    # and as their intervals say (regression below −threshold, improvement above, else no change)
    page.goto(f"{url}/ui/#/leaderboard/local/ui")
    page.wait_for_selector("#view tbody tr")
    page.check(f"tr[data-job={job_a}][data-benchmark=boolq] input[type=checkbox]")
    page.check(f"tr[data-job={job_b}][data-benchmark=boolq] input[type=checkbox]")
    page.get_by_role("button", name="Compare 2 selected jobs").click()
    page.wait_for_selector("#comparison tbody tr")
    assert page.locator("#compare-plot rect[data-job]").count() == 4
    verdicts = page.locator("#comparison td[data-verdict]").all_inner_texts()
    compared = api.get("/compare", params={"a": job_a, "b": job_b}).json()["benchmarks"]
    assert verdicts == [c["verdict"] for c in compared]
    for c in compared:
        low, high, t = c["ci95_low"], c["ci95_high"], c["threshold"]
        assert c["verdict"] == ("regression" if high < -t else "improvement" if low > t else "no change")
    assert page.locator("#comparison tbody tr").count() == 2
    _shot(page, "compare")
    assert errors == []
    context.close()
