"""A job's checkpoint, resolved, preflighted and served for the duration of a block.

When data-parallel replicas run out of GPU memory while the server starts, the server is
started once more with tensor parallel over the same GPUs; the job's GPU plan records it.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

from evaljobs.errors import ServerOutOfMemoryError
from evaljobs.records import ModelServerTime, Runtime
from evaljobs.settings import Settings
from evaljobs.spec import CheckpointModel
from evaljobs.stores import JobRegistry
from runners.checkpoint import DEFAULT_CHAT_TEMPLATE, Preflight, preflight, resolve_checkpoint
from runners.embedded_model import EMBEDDED_MODEL_NAME, EMBEDDED_MODELS
from runners.gpu_plan import plan_gpus, tensor_parallel_fallback
from runners.vllm_server import ServerInfo, ServerOptions, build_command, requests_served, serve

__all__ = ["embedded_server_options", "served_checkpoint"]


def embedded_server_options(
    model_path: Path, max_model_len: int = 1024, *, name: str = EMBEDDED_MODEL_NAME
) -> ServerOptions:
    """How the tests and the benchmarks serve embedded model `name`: a base model with the plain
    default template, a chat model with its own."""
    return ServerOptions(
        model_path=model_path,
        served_name=name,
        max_model_len=max_model_len,
        dtype="bfloat16",
        chat_template=None if EMBEDDED_MODELS[name].chat else DEFAULT_CHAT_TEMPLATE,
    )


def served_name(model: CheckpointModel, path: Path) -> str:
    """The name the server exposes: the job's, or the folder's."""
    return model.served_name or path.name


@contextmanager
def served_checkpoint(
    model: CheckpointModel,
    settings: Settings,
    folder: Path,
    say: Callable[[str], None],
    registry: JobRegistry,
    job_id: str,
    build: Callable[[ServerOptions, int], list[str]] = build_command,
) -> Iterator[tuple[ServerInfo, Preflight]]:
    """Resolve → preflight → serve; the server stops when the block ends, however it ends.

    `build` makes the server command (tests stand in other processes)."""
    resolved = resolve_checkpoint(model.uri, settings.models_dir, settings.artifact_source)
    path, artifact = resolved.path, resolved.artifact
    if artifact is not None:
        say(f"W&B artifact {artifact.requested} is {artifact.resolved} (digest {artifact.digest or '-'})")
    checked = preflight(path, model, settings.gpu_memory_cap_gb, folder)
    say(
        f"checkpoint {path}: {checked.architecture}, {checked.total_gb:.2f} GiB with KV cache, "
        f"chat template from {checked.template_source}"
    )
    plan = plan_gpus(
        checked.total_gb,
        gpus=settings.gpu_count,
        gpu_memory_gb=settings.gpu_memory_gb,
        requested=model.gpus,
        parallelism=model.parallelism,
        max_num_seqs=settings.vllm_max_num_seqs,
    )
    say(f"server plan: {plan.reason}")
    registry.update_runtime(
        job_id,
        Runtime(checkpoint=str(path), model_artifact=artifact, preflight=checked.as_record(), gpu_plan=plan),
    )
    options = ServerOptions(
        model_path=path,
        served_name=served_name(model, path),
        max_model_len=model.max_model_len,
        dtype=checked.dtype,
        chat_template=checked.chat_template,
        tool_calling=model.tool_calling,
        tool_call_parser=model.tool_call_parser,
        extra_args=settings.vllm_extra_args,
        tensor_parallel=plan.tensor_parallel,
        data_parallel=plan.data_parallel,
        # only an operator's figure goes on the command line: vLLM's own default is the plan's
        # figure already, and on the CPU build passing it explicitly (128) made the runner die
        # right after stopping its server (the Modal rehearsal's runner, at its sinks).
        max_num_seqs=settings.vllm_max_num_seqs,
        cache_dir=settings.vllm_cache,
    )
    started = time.monotonic()
    ready: float | None = None
    requests: int | None = None
    try:
        with ExitStack() as stack:

            def start(chosen: ServerOptions) -> ServerInfo:
                return stack.enter_context(
                    serve(chosen, log=say, timeout_s=settings.vllm_start_timeout_s, build=build)
                )

            try:
                server = start(options)
            except ServerOutOfMemoryError as exc:
                if plan.data_parallel == 1:
                    raise
                plan = tensor_parallel_fallback(plan, exc.line)
                say(f"server plan: {plan.reason}")
                registry.update_runtime(job_id, Runtime(gpu_plan=plan))
                server = start(
                    dataclasses.replace(options, tensor_parallel=plan.tensor_parallel, data_parallel=1)
                )
            ready = time.monotonic()
            registry.update_runtime(job_id, Runtime(server_command=server.command))
            try:
                yield dataclasses.replace(server, capacity=plan.capacity), checked
            finally:
                requests = requests_served(server)
                say(f"model server answered {requests} request(s)")
    finally:  # what the server cost, however the block ended
        up = ModelServerTime(
            up_s=time.monotonic() - started,
            startup_s=None if ready is None else ready - started,
            requests=requests,
        )
        registry.update_runtime(job_id, Runtime(model_server=up))
