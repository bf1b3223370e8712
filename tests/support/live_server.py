"""A real uvicorn server on a free local port, in a background thread, for HTTP tests."""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import uvicorn
from fastapi import FastAPI


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@contextmanager
def live_server(app: FastAPI, *, capture_logs: bool = False) -> Iterator[str]:
    """Serve `app` until the block ends; yields its base URL. With `capture_logs`, uvicorn's
    records go to the root logger (where a test's caplog sees them) at info level."""
    port = free_port()
    if capture_logs:
        config = uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, log_level="info")
    else:
        config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the test server did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)


def wait_until_up(url: str, process: subprocess.Popen[bytes], timeout: float = 60) -> None:
    """Return once `url` answers HTTP at all; raise if `process` dies or time runs out."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            httpx.get(url, timeout=2)
            return
        except httpx.TransportError:
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{url} did not come up") from None
            time.sleep(0.2)


@contextmanager
def serve_process(env: dict[str, str]) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """`evaljobs serve --workers 0` in its own process with `env`, until the block ends; yields
    its base URL and the process (benchmarks measure it from outside)."""
    port = free_port()
    process = subprocess.Popen(
        [str(Path(sys.executable).with_name("evaljobs")), "serve", "--workers", "0", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(f"{url}/health", process)
        yield url, process
    finally:
        process.terminate()
        process.wait(30)
