"""The offline dataset source routes the real inspect_evals tasks to ../shared/datasets."""

from pathlib import Path

import pytest

from evaljobs.errors import ConfigError
from runners.datasets_source import activate, mirror_revision, parse_source


@pytest.fixture(scope="module")
def mirror(datasets_dir: Path) -> Path:
    activate(datasets_dir)
    return datasets_dir


@pytest.mark.parametrize(
    ("task", "samples"),
    [
        ("arc_easy", 2376),  # plain parquet repo with configs
        ("boolq", 3270),
        ("hellaswag", 500),  # the mirror's 500-row subset
        ("piqa", 1838),  # script-based repo: the mirror's generated parquet
        ("medqa", 1273),  # script-based repo with a local archive
        ("mgsm", 2750),  # files downloaded from plain URLs, sha256-checked by inspect_evals
    ],
)
def test_real_tasks_load_from_the_mirror(mirror: Path, task: str, samples: int) -> None:
    from inspect_ai.util import registry_create

    loaded = registry_create("task", f"inspect_evals/{task}")
    assert len(loaded.dataset) == samples


def test_repo_missing_from_the_mirror_fails_fast(mirror: Path) -> None:
    import datasets

    with pytest.raises(ConfigError, match="not in the local dataset source"):
        datasets.load_dataset("ehovy/race", "high", split="test", revision="abc")


def test_settings_values(tmp_path: Path, datasets_dir: Path) -> None:
    assert parse_source("hub") is None
    with pytest.raises(ConfigError, match="not a folder"):
        parse_source(str(tmp_path / "nowhere"))
    assert mirror_revision(datasets_dir).startswith("local:datasets@sha256:")
