"""vLLM's OpenAI-compatible server (`vllm serve`) as a subprocess with a lifecycle.

Start order: pick a port, start the server in its own process group, stream its output
into the job log, wait for /health with a bounded timeout (failing fast if the process
dies, with `ServerOutOfMemoryError` when its output says it ran out of memory), yield, and
stop the whole group in `finally`.
"""

from __future__ import annotations

import _thread
import os
import shlex
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager, suppress
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

from evaljobs.errors import ModelServerError, ServerOutOfMemoryError
from runners.gpu_plan import GPU_MEMORY_UTILIZATION

__all__ = [
    "OUT_OF_MEMORY",
    "ServerInfo",
    "ServerOptions",
    "build_command",
    "is_cpu_build",
    "out_of_memory_line",
    "requests_served",
    "serve",
]

API_KEY = "evaljobs-local"
"""Key the local server requires; it never leaves the machine."""

OUT_OF_MEMORY = (
    "No available memory for the cache blocks",  # vllm/v1/core/kv_cache_utils.py: weights left no KV room
    "KV cache is needed, which is larger than the available KV cache memory",  # same: no max_model_len room
    "Failed to load model - not enough GPU memory",  # vllm/v1/worker/gpu_model_runner.py: load_model
    "CUDA out of memory",  # torch.OutOfMemoryError, and gpu_model_runner's sampler warm-up
)
"""What vLLM 0.32 prints when a server cannot start for lack of GPU memory."""


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
    max_num_seqs: int | None = None
    """Sequences one replica batches; None: vLLM's default."""
    tool_calling: bool = False
    tool_call_parser: str | None = None
    extra_args: str = ""
    cache_dir: Path | None = None
    """The server's VLLM_CACHE_ROOT, where vLLM keeps its torch.compile cache; None keeps vLLM's."""
    cpu_kv_cache_gib: int | None = None
    """KV cache of a CPU server (VLLM_CPU_KVCACHE_SPACE); None: the environment's, else 2 GiB."""
    chunked_prefill: bool = False
    """vLLM's default is on: a prompt that does not fit the step's token budget beside the
    others in flight is prefilled in pieces, and a piece's attention over the cached part
    rounds differently (up to 0.1 nats on a prompt's later tokens here), so a prompt's
    log-probabilities would depend on what else the server had in flight. Off, every prompt is
    prefilled whole (vLLM raises the budget to at least `max_model_len`), which is what makes a
    log-likelihood re-run bit-identical. It costs inter-token latency when long prompts arrive
    during decoding, which a batch evaluation does not wait on."""


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
    capacity: int | None = None
    """Requests it batches at once (`max_num_seqs` × replicas): its GPU plan's, set by
    `runners.serving.served_checkpoint`; None when nothing planned it."""


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


def _cli_module() -> str:
    """vLLM's CLI (`vllm`), or `runners.vllm_cli` on the vllm-cpu build, whose CLI cannot start."""
    try:
        distribution("vllm")
    except PackageNotFoundError:
        return "runners.vllm_cli"
    return "vllm.entrypoints.cli.main"


def build_command(options: ServerOptions, port: int) -> list[str]:
    """`vllm serve MODEL …` run by this interpreter (so the venv's vLLM), no secrets in it."""
    cmd = [
        sys.executable, "-m", _cli_module(), "serve", str(options.model_path),
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
    if options.max_num_seqs is not None:
        cmd += ["--max-num-seqs", str(options.max_num_seqs)]
    if not options.chunked_prefill:
        cmd += ["--no-enable-chunked-prefill"]
    if options.tool_calling:
        cmd += ["--enable-auto-tool-choice"]
        if options.tool_call_parser:
            cmd += ["--tool-call-parser", options.tool_call_parser]
    # On CPU the "GPU" utilisation is the share of the NUMA node's RAM vLLM claims; on GPUs
    # it is the budget runners.gpu_plan planned with.
    utilization = 0.3 if is_cpu_build() else GPU_MEMORY_UTILIZATION
    cmd += ["--gpu-memory-utilization", str(utilization)]
    return cmd + shlex.split(options.extra_args)


def _server_env(options: ServerOptions) -> dict[str, str]:
    env = dict(os.environ)
    if options.cache_dir is not None:
        options.cache_dir.mkdir(parents=True, exist_ok=True)
        env["VLLM_CACHE_ROOT"] = str(options.cache_dir)
    if is_cpu_build():
        if options.cpu_kv_cache_gib is not None:
            env["VLLM_CPU_KVCACHE_SPACE"] = str(options.cpu_kv_cache_gib)
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


def out_of_memory_line(lines: Iterable[str]) -> str | None:
    """The first line of vLLM output saying it ran out of GPU memory, if any."""
    return next((line for line in lines if any(marker in line for marker in OUT_OF_MEMORY)), None)


class _Output:
    """What the server printed: the last lines, and its first out-of-memory line."""

    def __init__(self) -> None:
        self.tail: deque[str] = deque(maxlen=200)
        self.out_of_memory: str | None = None
        self.closed = threading.Event()

    def pump(self, stream: object, sink: Callable[[str], None]) -> None:
        for line in iter(stream.readline, ""):  # type: ignore[attr-defined]
            line = line.rstrip("\n")
            self.tail.append(line)
            self.out_of_memory = self.out_of_memory or out_of_memory_line([line])
            sink(line)
        self.closed.set()


def _stop(proc: subprocess.Popen[str], grace_s: float = 20.0) -> None:
    """Stop the server's whole process group, even when the server itself already died: its
    engine-core processes may live on holding GPU memory (a fallback start needs it back)."""
    with suppress(ProcessLookupError):  # raised once nothing is left in the group
        os.killpg(proc.pid, signal.SIGTERM)
        with suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=grace_s)
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=grace_s)


def _watch(proc: subprocess.Popen[str], stopping: threading.Event, log: Callable[[str], None]) -> None:
    """If the server dies while its block runs, interrupt the block's (main) thread: inspect-ai
    retries a refused connection forever, so a job whose server died would never end. The block
    then ends with the ModelServerError `serve` raises."""
    if threading.current_thread() is not threading.main_thread():
        return
    if signal.getsignal(signal.SIGINT) in (signal.SIG_IGN, signal.SIG_DFL, None):
        # inherited ignored (a non-interactive shell starts `… &` so): the interrupt would do
        # nothing. The runner's own process, so it may be handled as Python does by default.
        signal.signal(signal.SIGINT, signal.default_int_handler)

    def watch() -> None:
        proc.wait()
        if not stopping.is_set():
            log(f"model server exited (code {proc.returncode}) while the job used it")
            _thread.interrupt_main()

    threading.Thread(target=watch, daemon=True, name="vllm-watch").start()


def wait_healthy(url: str, proc: subprocess.Popen[str], timeout_s: float, output: _Output) -> None:
    """Poll /health until 200; ModelServerError if the process exits or time runs out
    (ServerOutOfMemoryError when it exits saying it ran out of memory)."""

    def healthy() -> bool:
        if proc.poll() is not None:  # not retried: fail fast
            output.closed.wait(timeout=5)  # its last lines, unless a child holds the pipe open
            last = "\n".join(list(output.tail)[-15:])
            if output.out_of_memory:
                raise ServerOutOfMemoryError(
                    f"vLLM ran out of GPU memory while starting (exit code {proc.returncode}); "
                    f"lower max_model_len, or use tensor parallel or a smaller model:\n{last}",
                    output.out_of_memory.strip(),
                )
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
    build: Callable[[ServerOptions, int], list[str]] = build_command,
) -> Iterator[ServerInfo]:
    """Run the server for the duration of the block. `build` makes the command from the options
    and port (tests stand in other processes)."""
    port = _free_port()
    cmd = build(options, port)
    log(f"starting model server: {shlex.join(cmd)}")
    proc = subprocess.Popen(
        cmd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=_server_env(options),
        start_new_session=True,
        preexec_fn=_death_signal(),
    )
    output = _Output()
    pump = threading.Thread(
        target=output.pump, args=(proc.stdout, lambda line: log(f"[vllm] {line}")), daemon=True
    )
    pump.start()
    started = time.monotonic()
    stopping = threading.Event()
    try:
        wait_healthy(f"http://127.0.0.1:{port}/health", proc, timeout_s, output)
        log(f"model server healthy after {time.monotonic() - started:.1f}s on port {port}")
        _watch(proc, stopping, log)
        yield ServerInfo(f"http://127.0.0.1:{port}/v1", options.served_name, API_KEY, proc.pid, cmd)
    except BaseException as exc:  # the block's end, told as the server's death when that was the cause
        stopping.set()
        if proc.poll() is not None and not isinstance(exc, ModelServerError):
            raise _died(proc) from exc
        raise
    else:
        stopping.set()
        if proc.poll() is not None:
            raise _died(proc)
    finally:
        _stop(proc)
        pump.join(timeout=5)
        log("model server stopped")


def _died(proc: subprocess.Popen[str]) -> ModelServerError:
    return ModelServerError(
        f"the model server exited (code {proc.returncode}) while the job used it; see the job log"
    )
