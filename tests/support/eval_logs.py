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


def logged_sample_ids(logs: Path) -> set[str]:
    """Ids of the samples in the eval logs of `logs`; empty before the first write."""
    from inspect_ai.log import read_eval_log_sample_summaries

    try:
        return {str(s.id) for p in logs.glob("*.eval") for s in read_eval_log_sample_summaries(str(p))}
    except Exception:  # noqa: BLE001 - not written yet, or caught mid-write
        return set()


def model_requests(logs: Path, leaving_out: set[str]) -> int:
    """Requests to the model that the samples of `logs` made (a model event each), but `leaving_out`'s.

    Log-likelihood scoring asks one prompt per choice, or one per question where every choice
    is a single token (BoolQ's " no"/" yes"), plus a prompt per choice if one of those falls
    outside the prompt's top log-probabilities: the log's model events say which it was.
    """
    from inspect_ai.log import read_eval_log_samples

    return sum(
        sum(1 for e in sample.events if e.event == "model")
        for p in logs.glob("*.eval")
        for sample in read_eval_log_samples(str(p), all_samples_required=False)
        if str(sample.id) not in leaving_out
    )
