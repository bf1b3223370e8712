"""How a checkpoint uses the runner's GPUs: data-parallel replicas when one replica fits one
GPU with vLLM's own headroom, tensor parallel when it does not. Checked before a server
starts; recorded with the job. If data-parallel replicas still run out of memory at start,
the runner falls back once to tensor parallel (`tensor_parallel_fallback`).

The 86 GiB cap on weights plus KV cache (for `max_model_len`) is enforced earlier, by the
preflight at submit time and again in the runner, before anything is rented or started.
"""

from __future__ import annotations

from typing import Literal

from evaljobs.records import GpuPlan

__all__ = [
    "GPU_MEMORY_UTILIZATION",
    "RUNTIME_RESERVE_GB",
    "GpuPlan",
    "default_max_num_seqs",
    "plan_gpus",
    "replica_budget_gb",
    "tensor_parallel_fallback",
]

GPU_MEMORY_UTILIZATION = 0.92
"""Share of each GPU vLLM may use (`--gpu-memory-utilization`). vLLM 0.32's default, passed
explicitly on GPUs so the plan and the server budget the same memory."""

RUNTIME_RESERVE_GB = 9.0
"""What vLLM 0.32 spends inside that share before it sizes the KV cache (`Worker.
determine_available_memory`): the CUDA context and NCCL buffers (~1-2 GiB), the peak
activations of its profiling forward pass over `max_num_batched_tokens` (8192 on an H100,
~1-3 GiB for 30-70B models), the sampler warm-up over `max_num_seqs` (1024) float32 logits
rows, and the CUDA graph pool it estimates before capture (~1-3 GiB); plus the gap between an
"80 GB" GPU's nominal and reported memory (~0.8 GiB). What is left after weights and this
reserve must hold the KV cache of one `max_model_len` sequence, or vLLM refuses to start."""


def replica_budget_gb(gpu_memory_gb: float) -> float:
    """Weights plus KV cache one GPU can hold under vLLM's budget: 64.6 GiB of an 80 GiB H100."""
    return gpu_memory_gb * GPU_MEMORY_UTILIZATION - RUNTIME_RESERVE_GB


def default_max_num_seqs(gpus: int, gpu_memory_gb: float) -> int:
    """vLLM 0.32's own `max_num_seqs` for its API server on this hardware (`EngineArgs.
    _set_default_max_num_seqs_and_batched_tokens_args`): 1024 on 70 GiB+ GPUs such as the H100
    (an A100 80 GB gets 256, which this cannot tell apart), 256 on smaller GPUs, 128 on CPU."""
    if gpus == 0:
        return 128
    return 1024 if gpu_memory_gb >= 70 else 256


def plan_gpus(
    total_gb: float,
    *,
    gpus: int,
    gpu_memory_gb: float,
    requested: int = 2,
    parallelism: Literal["auto", "tensor", "data"] = "auto",
    max_num_seqs: int | None = None,
) -> GpuPlan:
    """The layout for a model needing `total_gb` (weights + KV cache) on `gpus` GPUs of `gpu_memory_gb`.

    `requested` and `parallelism` come from the job (`checkpoint.gpus`, `checkpoint.parallelism`);
    `max_num_seqs` (sequences one replica batches) from the settings, else vLLM's default (what
    the server then uses without being told).
    """
    seqs = max_num_seqs or default_max_num_seqs(gpus, gpu_memory_gb)

    def plan(tp: int, dp: int, reason: str) -> GpuPlan:
        return GpuPlan(
            tensor_parallel=tp,
            data_parallel=dp,
            reason=reason,
            total_gb=round(total_gb, 3),
            gpus=gpus,
            gpu_memory_gb=gpu_memory_gb,
            max_num_seqs=seqs,
        )

    if gpus == 0:
        return plan(1, 1, "CPU server: no GPU parallelism")
    use = max(1, min(requested, gpus))
    budget = replica_budget_gb(gpu_memory_gb)
    fits_one = total_gb <= budget
    if use == 1:
        return plan(1, 1, "one GPU")
    if parallelism == "tensor" or (parallelism == "auto" and not fits_one):
        why = "requested" if parallelism == "tensor" else f"{total_gb:.1f} GiB is over one GPU's {budget:.1f}"
        return plan(use, 1, f"tensor parallel over {use} GPUs: {why}")
    if not fits_one:  # data parallel asked for, but one replica does not fit one GPU
        return plan(use, 1, f"tensor parallel over {use} GPUs: {total_gb:.1f} GiB cannot be replicated")
    return plan(1, use, f"{use} data-parallel replicas: {total_gb:.1f} GiB fits one GPU's {budget:.1f}")


def tensor_parallel_fallback(plan: GpuPlan, out_of_memory: str) -> GpuPlan:
    """One replica over all of `plan`'s GPUs, after its data-parallel replicas ran out of memory."""
    gpus = plan.tensor_parallel * plan.data_parallel
    return plan.model_copy(
        update={
            "tensor_parallel": gpus,
            "data_parallel": 1,
            "reason": f"tensor parallel over {gpus} GPUs: {plan.data_parallel} data-parallel replicas "
            "ran out of memory at start",
            "fallback": out_of_memory,
        }
    )
