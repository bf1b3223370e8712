"""The server lifecycle with real subprocesses standing in for a server that misbehaves."""

import os
import sys
from pathlib import Path

import pytest

from evaljobs.errors import ModelServerError
from runners.vllm_server import ServerOptions, build_command, serve

OPTIONS = ServerOptions(model_path=Path("/m"), served_name="m", max_model_len=256, dtype="bfloat16")


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
        serve(OPTIONS, log=lines.append, timeout_s=3, command=cmd),
    ):
        pass
    pid = int(pid_file.read_text())
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    assert "[vllm] loading" in lines and "model server stopped" in lines


def test_server_that_exits_reports_its_output() -> None:
    cmd = [sys.executable, "-c", "import sys; print('error: bad flag --nope'); sys.exit(3)"]
    with (
        pytest.raises(ModelServerError, match=r"exited with code 3[\s\S]*bad flag"),
        serve(OPTIONS, log=lambda _: None, timeout_s=30, command=cmd),
    ):
        pass


def test_command_line() -> None:
    opts = ServerOptions(
        model_path=Path("/m"),
        served_name="m",
        max_model_len=512,
        dtype="bfloat16",
        chat_template=Path("/t.jinja"),
        tensor_parallel=2,
        tool_calling=True,
        tool_call_parser="hermes",
        extra_args="--enforce-eager",
    )
    cmd = build_command(opts, 8000)
    joined = " ".join(cmd)
    assert "-m vllm.entrypoints.openai.api_server" in joined
    assert "--chat-template /t.jinja" in joined and "--tensor-parallel-size 2" in joined
    assert "--enable-auto-tool-choice --tool-call-parser hermes" in joined and cmd[-1] == "--enforce-eager"
