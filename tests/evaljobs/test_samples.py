"""The sample viewer's pages, read from a real inspect-ai eval log."""

from __future__ import annotations

from pathlib import Path

from evaljobs.records import BenchmarkResult
from evaljobs.samples import sample_page
from tests.evaljobs.test_compare import N, eval_log


def test_pages_of_samples_with_output_target_and_score(tmp_path: Path) -> None:
    log = eval_log(tmp_path, "viewer", wrong={3})
    result = BenchmarkResult(
        benchmark="quiz", task="quiz", status="success", primary_metric="match/accuracy", log_path=log
    )
    first = sample_page(result, offset=0, limit=5)
    assert first.total == N and [s.id for s in first.samples] == ["0", "1", "2", "3", "4"]
    wrong = first.samples[3]
    assert (wrong.input, wrong.output, wrong.target, wrong.value) == ("q3", "no", "yes", 0.0)
    assert first.samples[0].value == 1.0 and first.samples[0].output == "yes"
    last = sample_page(result, offset=N - 2, limit=5)
    assert [s.id for s in last.samples] == [str(N - 2), str(N - 1)]
    assert sample_page(result, offset=N, limit=5).samples == []
