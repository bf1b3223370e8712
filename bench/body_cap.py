"""Memory of `evaljobs serve` under oversized request bodies.

    python -m bench.body_cap --mb 50 --rounds 5
    python -m bench.body_cap --mb 50 --rounds 5 --cap-mib 1024   # the same server, no cap in reach

Starts `evaljobs serve --workers 0` in its own process, reads its resident memory (VmRSS),
sends `rounds` bodies of `mb` MiB each to POST /jobs and POST /webhooks/wandb, each without
credentials and with valid ones (an API token; the webhook's token and the body's real HMAC
signature), each with a Content-Length and chunked, and reads the resident memory after each
group. Prints the command and a markdown table. `--cap-mib` sets the server's
EVALJOBS_MAX_BODY_BYTES, so a cap above the body size shows what an uncapped server does.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import httpx

from evaljobs.stores.sqlite_triggers import SqliteTriggerStore
from tests.support.live_server import serve_process

MIB = 1024 * 1024
BLOCK = b" " * MIB
"""The body: spaces, sent a MiB at a time."""


def rss_mib(pid: int) -> float:
    """Resident memory of a process, from /proc."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for {pid}")


def chunks(mib: int) -> Iterator[bytes]:
    """The body as a stream of unknown length (chunked transfer encoding)."""
    for _ in range(mib):
        yield BLOCK


def signature(secret: str, mib: int) -> str:
    """X-Wandb-Signature of the body: base64 HMAC-SHA256, as W&B sends it."""
    mac = hmac.new(secret.encode(), digestmod=hashlib.sha256)
    for block in chunks(mib):
        mac.update(block)
    return base64.b64encode(mac.digest()).decode()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--mb", type=int, default=50, help="body size in MiB")
    parser.add_argument("--rounds", type=int, default=5, help="requests per route, credentials and mode")
    parser.add_argument("--cap-mib", type=int, default=None, help="the server's cap (default: 1 MiB)")
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="evaljobs-bench-body-"))
    triggers = SqliteTriggerStore(home / "registry.sqlite3")
    token = triggers.create_token("bench", ["bench"])
    hook_token, hook_secret = triggers.create_webhook("bench")
    env = {**os.environ, "EVALJOBS_HOME": str(home)}
    if args.cap_mib is not None:
        env["EVALJOBS_MAX_BODY_BYTES"] = str(args.cap_mib * MIB)
    signed = {"Authorization": f"Bearer {hook_token}", "X-Wandb-Signature": signature(hook_secret, args.mb)}
    cases = [
        ("/jobs", "none", {}),
        ("/jobs", "API token", {"Authorization": f"Bearer {token}"}),
        ("/webhooks/wandb", "none", {}),
        ("/webhooks/wandb", "webhook token + signature", signed),
    ]
    rows = []
    with serve_process(env) as (url, server), httpx.Client(base_url=url, timeout=300) as client:
        client.get("/jobs", headers={"Authorization": f"Bearer {token}"})  # warm the routes
        client.post("/jobs", json={}, headers={"Authorization": f"Bearer {token}"})
        before = rss_mib(server.pid)
        for path, who, headers in cases:
            for mode in ("content-length", "chunked"):
                statuses = set()
                for _ in range(args.rounds):
                    body = BLOCK * args.mb if mode == "content-length" else chunks(args.mb)
                    sent = {**headers, "Content-Type": "application/json"}
                    statuses.add(client.post(path, content=body, headers=sent).status_code)
                rows.append((path, who, mode, statuses, rss_mib(server.pid)))
    cap = f" --cap-mib {args.cap_mib}" if args.cap_mib is not None else ""
    print(f"\n`python -m bench.body_cap --mb {args.mb} --rounds {args.rounds}{cap}`\n")
    print(f"Server RSS before: {before:.1f} MiB.\n")
    print("| route | credentials | body | requests | answers | RSS after (MiB) | growth since start (MiB) |")
    print("|---|---|---|---|---|---|---|")
    for path, who, mode, statuses, rss in rows:
        answers = ", ".join(str(s) for s in sorted(statuses))
        body = f"{args.mb} MiB, {mode}"
        print(f"| {path} | {who} | {body} | {args.rounds} | {answers} | {rss:.1f} | {rss - before:+.1f} |")


if __name__ == "__main__":
    main()
