"""What a job's eval logs hold so far, read as the runner writes them."""

from __future__ import annotations

from pathlib import Path


def logged_samples(logs: Path) -> int:
    """Samples in the eval logs of `logs` (a job's `logs/` folder); 0 before the first write."""
    from inspect_ai.log import read_eval_log_sample_summaries

    try:
        return sum(len(read_eval_log_sample_summaries(str(p))) for p in logs.glob("*.eval"))
    except Exception:  # noqa: BLE001 - not written yet, or caught mid-write
        return 0
