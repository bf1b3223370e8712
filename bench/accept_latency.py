"""Accept latency and throughput of `POST /jobs` and `POST /webhooks/wandb` under concurrent load.

    python -m bench.accept_latency --requests 400 --concurrency 16
    python -m bench.accept_latency --requests 2000 --rate 200

With `--concurrency`, that many clients send back to back (closed loop: the rate is what the
server sustains). With `--rate`, requests start on a fixed schedule whatever is outstanding
(open loop: how users and webhooks arrive), and each latency counts from its scheduled start,
so a stalled server cannot hide its queue (no coordinated omission).

Starts `evaljobs serve --workers 0` (jobs are accepted, validated, recorded and queued, not
run) in its own process on a free port, then sends unique jobs / signed webhook deliveries
(each a new artifact version, so each creates a job) and, for the webhook, a burst of
duplicates of one version. Prints a markdown table.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import hmac
import json
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from evaljobs.stores.sqlite_triggers import SqliteTriggerStore
from tests.support.live_server import serve_process

POLICIES = """
policies:
  - name: bench
    entity: bench
    match: {collection: "model-*"}
    job: {benchmarks: [arc_easy, boolq], limit: 50, project: bench}
"""


def job_doc(i: int) -> dict[str, object]:
    return {
        "entity": "bench",
        "project": "bench",
        "name": f"load-{i}",
        "model": {"api": {"model": "openai-api/local/m", "base_url": "http://127.0.0.1:9/v1"}},
        "benchmarks": ["arc_easy", "boolq", {"id": "piqa", "limit": 10}],
        "limit": 50,
    }


def event(version: int) -> bytes:
    return json.dumps(
        {
            "event_type": "CREATE_ARTIFACT",
            "event_author": "bench",
            "alias": "latest",
            "artifact_version": f"wandb-artifact://_id/{version}",
            "artifact_version_string": f"bench/train/model-a:v{version}",
            "artifact_collection_name": "model-a",
            "project_name": "train",
            "entity_name": "bench",
        }
    ).encode()


async def load(send, n: int, concurrency: int) -> tuple[list[float], float, list[int]]:  # type: ignore[no-untyped-def]
    latencies: list[float] = []
    codes: list[int] = []
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(n):
        queue.put_nowait(i)

    async def worker() -> None:
        while not queue.empty():
            i = queue.get_nowait()
            start = time.perf_counter()
            code = await send(i)
            latencies.append(time.perf_counter() - start)
            codes.append(code)

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return latencies, time.perf_counter() - start, codes


def pct(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1] * 1000


async def paced(send, n: int, rate: float) -> tuple[list[float], float, list[int]]:  # type: ignore[no-untyped-def]
    """One loop starts request i at start + i/rate as its own task (no burst of n tasks at once)."""
    latencies: list[float] = []
    codes: list[int] = []

    async def one(i: int, due: float) -> None:
        code = await send(i)
        latencies.append(time.perf_counter() - due)
        codes.append(code)

    start = time.perf_counter()
    tasks = []
    for i in range(n):
        due = start + i / rate
        await asyncio.sleep(max(0.0, due - time.perf_counter()))
        tasks.append(asyncio.create_task(one(i, due)))
    await asyncio.gather(*tasks)
    return latencies, time.perf_counter() - start, codes


def cpu_seconds(pid: int) -> float:
    """User + system CPU time the process has used so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def run(
    url: str,
    token: str,
    hook: tuple[str, str],
    n: int,
    concurrency: int,
    rate: float | None = None,
    pid: int | None = None,
) -> list[str]:
    import aiohttp  # the client's own cost per request is a few times less than httpx's: it shares the cores

    hook_token, secret = hook
    lines = []
    timeout = aiohttp.ClientTimeout(total=120)
    async with aiohttp.ClientSession(
        base_url=url, timeout=timeout, connector=aiohttp.TCPConnector(limit=0)
    ) as client:

        async def post(path: str, headers: dict[str, str], **body: Any) -> int:
            async with client.post(path, headers=headers, **body) as response:
                await response.read()
                return response.status

        async def post_job(i: int) -> int:
            return await post("/jobs", {"Authorization": f"Bearer {token}"}, json=job_doc(i))

        def signed(body: bytes) -> dict[str, str]:
            digest = hmac.new(secret.encode(), body, hashlib.sha256).digest()
            return {
                "Authorization": f"Bearer {hook_token}",
                "X-Wandb-Signature": base64.b64encode(digest).decode(),
                "Content-Type": "application/json",
            }

        async def post_event(i: int) -> int:
            body = event(i)
            return await post("/webhooks/wandb", signed(body), data=body)

        async def post_duplicate(i: int) -> int:
            body = event(10**6)
            return await post("/webhooks/wandb", signed(body), data=body)

        await post_job(-1)  # warm-up: catalog load, first connection
        for name, send in (
            ("POST /jobs (new job each)", post_job),
            ("POST /webhooks/wandb (new version each)", post_event),
            ("POST /webhooks/wandb (one version, duplicates)", post_duplicate),
        ):
            cpu = cpu_seconds(pid) if pid else 0.0
            if rate:
                latencies, wall, codes = await paced(send, n, rate)
            else:
                latencies, wall, codes = await load(send, n, concurrency)
            cpu_ms = (cpu_seconds(pid) - cpu) * 1000 / n if pid else float("nan")
            ok = sum(c in (201, 202) for c in codes)
            lines.append(
                f"| {name} | {n} | {f'{rate:g}/s' if rate else concurrency} | {pct(latencies, 50):.1f} "
                f"| {pct(latencies, 99):.1f} | {n / wall:.0f} | {cpu_ms:.2f} | {ok}/{n} |"
            )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--rate", type=float, default=None, help="open loop: requests started per second")
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="evaljobs-bench-accept-"))
    (home / "policies.yaml").write_text(POLICIES)
    store = SqliteTriggerStore(home / "registry.sqlite3")
    token, hook = store.create_token("bench", ["bench"]), store.create_webhook("bench")
    env = {**os.environ, "EVALJOBS_HOME": str(home), "EVALJOBS_POLICIES_FILE": str(home / "policies.yaml")}
    with serve_process(env) as (url, server):
        lines = asyncio.run(run(url, token, hook, args.requests, args.concurrency, args.rate, server.pid))
    load_arg = f"--rate {args.rate:g}" if args.rate else f"--concurrency {args.concurrency}"
    print(f"\n`python -m bench.accept_latency --requests {args.requests} {load_arg}`\n")
    load_col = "rate" if args.rate else "concurrency"
    print(f"| request | n | {load_col} | p50 ms | p99 ms | req/s | server CPU ms/request | accepted |")
    print("|---|---|---|---|---|---|---|---|")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
