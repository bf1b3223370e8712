"""served_checkpoint on two (pretend) GPUs, with real processes standing in for vLLM."""

import sys
from pathlib import Path

import pytest

from evaljobs.errors import ServerOutOfMemoryError
from evaljobs.records import JobRecord
from evaljobs.settings import Settings
from evaljobs.spec import CheckpointModel
from evaljobs.stores.sqlite_registry import SqliteRegistry
from runners.serving import served_checkpoint
from runners.vllm_server import ServerOptions
from tests.conftest import write_checkpoint

# the line vLLM 0.32 raises when the weights leave no room for the KV cache (v1/core/kv_cache_utils.py)
OUT_OF_MEMORY = (
    "ValueError: No available memory for the cache blocks. Try increasing `gpu_memory_utilization`"
)
HEALTHY = """
import http.server, sys
class Health(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        self.end_headers()
    def log_message(self, *args):
        pass
http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), Health).serve_forever()
"""


def out_of_memory_with_replicas(options: ServerOptions, port: int) -> list[str]:
    """A server that runs out of memory as two data-parallel replicas and starts as one."""
    if options.data_parallel > 1:
        return [sys.executable, "-c", f"import sys; print({OUT_OF_MEMORY!r}); sys.exit(1)"]
    return [sys.executable, "-c", HEALTHY, str(port), f"--tensor-parallel-size={options.tensor_parallel}"]


def start(tmp_path: Path, build, **model: object):  # type: ignore[no-untyped-def]
    settings = Settings(home=tmp_path / "home", gpu_count=2, gpu_memory_gb=80, vllm_start_timeout_s=30)
    registry = SqliteRegistry(settings.db_path)
    ckpt = write_checkpoint(tmp_path / "m")
    checkpoint = CheckpointModel(uri=str(ckpt), **model)  # type: ignore[arg-type]
    spec = {"model": {"checkpoint": checkpoint.model_dump()}, "benchmarks": ["boolq"]}
    registry.create(JobRecord(id="job-1", entity="local", project="p", model="m", spec=spec))
    served = served_checkpoint(
        checkpoint, settings, tmp_path / "job", lambda _: None, registry, "job-1", build
    )
    return served, registry


def test_replicas_out_of_memory_fall_back_to_tensor_parallel(tmp_path: Path) -> None:
    served, registry = start(tmp_path, out_of_memory_with_replicas)
    with served as (server, _):
        assert "--tensor-parallel-size=2" in server.command
    runtime = registry.get("job-1").runtime
    assert runtime.gpu_plan is not None
    assert (runtime.gpu_plan.tensor_parallel, runtime.gpu_plan.data_parallel) == (2, 1)
    assert "ran out of memory" in runtime.gpu_plan.reason
    assert runtime.gpu_plan.fallback == OUT_OF_MEMORY
    assert runtime.server_command is not None and "--tensor-parallel-size=2" in runtime.server_command


def test_tensor_parallel_out_of_memory_is_not_retried(tmp_path: Path) -> None:
    calls: list[ServerOptions] = []

    def always_out_of_memory(options: ServerOptions, port: int) -> list[str]:
        calls.append(options)
        return [sys.executable, "-c", f"import sys; print({OUT_OF_MEMORY!r}); sys.exit(1)"]

    served, _ = start(tmp_path, always_out_of_memory, parallelism="tensor")
    with pytest.raises(ServerOutOfMemoryError), served:
        pass
    assert [(o.tensor_parallel, o.data_parallel) for o in calls] == [(2, 1)]
