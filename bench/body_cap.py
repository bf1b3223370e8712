"""Memory of `evaljobs serve` under oversized request bodies.

    python -m bench.body_cap --mb 50 --rounds 5

Starts `evaljobs serve --workers 0` in its own process, reads its resident memory (VmRSS),
sends `rounds` bodies of `mb` MiB each to POST /jobs (with a token) and POST /webhooks/wandb
(with no credentials), both with a Content-Length and chunked, checks each answer is 413, and
reads the resident memory again. Prints a markdown table.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import httpx

from evaljobs.stores.sqlite_triggers import SqliteTriggerStore
from tests.support.live_server import free_port, wait_until_up

MIB = 1024 * 1024


def rss_mib(pid: int) -> float:
    """Resident memory of a process, from /proc."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for {pid}")


def chunks(total: int) -> Iterator[bytes]:
    block = b" " * MIB
    for _ in range(total // MIB):
        yield block


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--mb", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="evaljobs-bench-body-"))
    token = SqliteTriggerStore(home / "registry.sqlite3").create_token("bench", ["bench"])
    port = free_port()
    server = subprocess.Popen(
        [str(Path(sys.executable).with_name("evaljobs")), "serve", "--workers", "0", "--port", str(port)],
        env={**os.environ, "EVALJOBS_HOME": str(home)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    rows = []
    try:
        wait_until_up(f"{url}/health", server)
        with httpx.Client(base_url=url, timeout=120) as client:
            client.get("/jobs", headers={"Authorization": f"Bearer {token}"})  # warm the routes
            before = rss_mib(server.pid)
            for path, headers in (("/jobs", {"Authorization": f"Bearer {token}"}), ("/webhooks/wandb", {})):
                for mode in ("content-length", "chunked"):
                    statuses = set()
                    for _ in range(args.rounds):
                        body = b" " * (args.mb * MIB) if mode == "content-length" else chunks(args.mb * MIB)
                        statuses.add(client.post(path, content=body, headers=headers).status_code)
                    rows.append((path, mode, statuses, rss_mib(server.pid)))
    finally:
        server.terminate()
        server.wait(30)
    print(f"\n`python -m bench.body_cap --mb {args.mb} --rounds {args.rounds}`\n")
    print(f"Server RSS before: {before:.1f} MiB.\n")
    print("| route | body | requests | answers | RSS after (MiB) | growth since start (MiB) |")
    print("|---|---|---|---|---|---|")
    for path, mode, statuses, rss in rows:
        answers = ", ".join(str(s) for s in sorted(statuses))
        body = f"{args.mb} MiB, {mode}"
        print(f"| {path} | {body} | {args.rounds} | {answers} | {rss:.1f} | {rss - before:+.1f} |")


if __name__ == "__main__":
    main()
