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


def scored_sample_ids(logs: Path) -> set[str]:
    """Ids of the samples a resumed run of `logs` would not ask for again: those in the eval logs,
    and those scored but not yet flushed that inspect-ai's sample buffer holds (this host's
    buffer database, else the log dir's `.buffer/` copy that `log_shared` keeps)."""
    from inspect_ai.log._recover import read_buffer_recovery_data

    found = logged_sample_ids(logs)
    for path in logs.glob("*.eval"):
        found |= _completed_in_buffer_databases(path)
        try:
            data = read_buffer_recovery_data(str(path))  # a dead runner's database, or the log dir's copy
        except Exception:  # noqa: BLE001 - caught mid-write
            continue
        if data is not None:
            found |= {str(s.id) for s in data.completed}
    return found


def _completed_in_buffer_databases(log: Path) -> set[str]:
    """Scored samples in this host's sample buffer databases of `log`, its runner alive or not
    (inspect-ai's recovery reads only a dead runner's; a test watches a live one)."""
    import json
    import sqlite3

    from inspect_ai._util.file import filesystem
    from inspect_ai.log._recorders.buffer.database import location_dir_and_file, resolve_db_dir

    uri = filesystem(str(log)).path_as_uri(str(log))
    folder, file = location_dir_and_file(uri)
    found: set[str] = set()
    for db in (resolve_db_dir() / folder).glob(f"{file}.*.db"):
        try:
            with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
                rows = conn.execute("SELECT id, data FROM samples").fetchall()
        except sqlite3.Error:
            continue
        found |= {
            str(json.loads(sample_id)) if sample_id.startswith('"') else sample_id
            for sample_id, data in rows
            if json.loads(data).get("completed_at")
        }
    return found


def model_requests(log: Path, leaving_out: set[str]) -> int:
    """Requests to the model that the samples of the eval log `log` made (a model event each), but
    `leaving_out`'s. Give the job's result log: a resumed run leaves the log it took over beside
    it (and inspect-ai's `-recovered` copy, whose unfinished samples ran again in the result).

    Log-likelihood scoring asks one prompt per choice, or one per question where every choice
    is a single token (BoolQ's " no"/" yes"), plus a prompt per choice if one of those falls
    outside the prompt's top log-probabilities: the log's model events say which it was.
    """
    from inspect_ai.log import read_eval_log_samples

    return sum(
        sum(1 for e in sample.events if e.event == "model")
        for sample in read_eval_log_samples(str(log), all_samples_required=False)
        if str(sample.id) not in leaving_out
    )
