"""How a checkpoint uses the runner's GPUs: data-parallel replicas when it fits on one GPU,
tensor parallel when it does not. Checked before a server starts; recorded with the job.

The 86 GiB cap on weights plus KV cache (for `max_model_len`) is enforced earlier, by the
preflight at submit time and again in the runner, before anything is rented or started.
"""

from __future__ import annotations

from typing import Literal

from evaljobs.records import GpuPlan

__all__ = ["GpuPlan", "plan_gpus"]

HEADROOM = 0.9
"""Share of one GPU's memory the weights plus KV cache may fill (activations need the rest)."""


def plan_gpus(
    total_gb: float,
    *,
    gpus: int,
    gpu_memory_gb: float,
    requested: int = 2,
    parallelism: Literal["auto", "tensor", "data"] = "auto",
) -> GpuPlan:
    """The layout for a model needing `total_gb` (weights + KV cache) on `gpus` GPUs of `gpu_memory_gb`.

    `requested` and `parallelism` come from the job (`checkpoint.gpus`, `checkpoint.parallelism`).
    """

    def plan(tp: int, dp: int, reason: str) -> GpuPlan:
        return GpuPlan(
            tensor_parallel=tp,
            data_parallel=dp,
            reason=reason,
            total_gb=round(total_gb, 3),
            gpus=gpus,
            gpu_memory_gb=gpu_memory_gb,
        )

    if gpus == 0:
        return plan(1, 1, "CPU server: no GPU parallelism")
    use = max(1, min(requested, gpus))
    fits_one = total_gb <= gpu_memory_gb * HEADROOM
    if use == 1:
        return plan(1, 1, "one GPU")
    if parallelism == "tensor" or (parallelism == "auto" and not fits_one):
        why = "requested" if parallelism == "tensor" else f"{total_gb:.1f} GiB does not fit one GPU"
        return plan(use, 1, f"tensor parallel over {use} GPUs: {why}")
    if not fits_one:  # data parallel asked for, but one replica does not fit one GPU
        return plan(use, 1, f"tensor parallel over {use} GPUs: {total_gb:.1f} GiB cannot be replicated")
    return plan(1, use, f"{use} data-parallel replicas: {total_gb:.1f} GiB fits one GPU")
