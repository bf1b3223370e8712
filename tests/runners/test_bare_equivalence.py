"""At temperature 0, evaljobs scores every sample as a bare inspect-ai eval does."""

import os
from pathlib import Path

import pytest

from bench.bare_inspect import KEY_ENV, differences, run_bare, run_evaljobs
from evaljobs.settings import get_settings
from runners.vllm_server import ServerInfo

pytestmark = pytest.mark.vllm


def test_same_scores_as_bare_inspect(
    home: Path, server: ServerInfo, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from runners.datasets_source import activate, parse_source

    monkeypatch.setenv(KEY_ENV, server.api_key)
    activate(parse_source(os.environ["EVALJOBS_DATASET_SOURCE"]))
    benchmarks = ["arc_easy", "boolq"]
    bare = run_bare(benchmarks, server.model, server.base_url, server.api_key, 4, 8, tmp_path / "bare")
    ours = run_evaljobs(benchmarks, server.model, server.base_url, 4, 8, get_settings())
    assert set(bare.scores) == set(benchmarks) and all(len(v) == 4 for v in bare.scores.values())
    assert differences(bare, ours) == []
