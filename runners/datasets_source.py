"""Where benchmark datasets come from: the Hugging Face Hub (default) or a local mirror.

A local mirror is a folder laid out like the Hub (`<org>/<name>/…`, plus `_url/<host>/<path>`
for files fetched from plain URLs), as ../shared/datasets is. `activate` points the
`datasets` and `huggingface_hub` loaders at it in this process, without editing
inspect_evals: a repo the mirror has is read from disk (its pinned revision dropped, the
mirror being that revision), one it lacks fails fast instead of reaching for the network.

`HF_HUB_OFFLINE`/`HF_DATASETS_OFFLINE` keep everything else off the network, but cannot
read this mirror: it is a tree of repos, not a Hub cache (`datasets--org--name/snapshots/
<commit>/`), and offline `datasets` only reloads datasets it prepared itself. What remains:

- `datasets.load_dataset`: maps `org/name` to the mirror's folder and drops the revision;
  a repo it lacks raises ConfigError saying what to do.
- `huggingface_hub.snapshot_download`: copies the mirror's repo into the `local_dir` where
  inspect_evals runs a script builder (piqa, medqa); a repo it lacks fails fast (offline,
  its LocalEntryNotFoundError would be retried for minutes by inspect_evals' backoff).
- `GeneratorBasedBuilder.download_and_prepare`/`as_dataset`: a script builder would download
  its sources from their original URLs; it reads the split parquet the mirror holds instead.
- inspect_evals' URL download cache, pre-filled from `_url/` (simpleqa, mgsm), so its
  sha256-checked `download()` finds the file and never fetches.

No benchmark in the catalog calls `hf_hub_download` or `get_dataset_split_names`
(inspect_evals 0.26.0), so those are not routed.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

from evaljobs.errors import ConfigError

__all__ = ["activate", "mirror_revision", "parse_source"]

# Files inspect_evals downloads from URLs (and checks by sha256), and where it caches them.
_URL_FILES = {
    "simpleqa/simple_qa_test_set.csv": (
        "openaipublic.blob.core.windows.net/simple-evals/simple_qa_test_set.csv"
    ),
    **{
        f"mgsm/mgsm_{lang}.tsv": f"openaipublic.blob.core.windows.net/simple-evals/mgsm_{lang}.tsv"
        for lang in ("bn", "de", "en", "es", "fr", "ja", "ru", "sw", "te", "th", "zh")
    },
}

_active: Path | None = None


def parse_source(value: str) -> Path | None:
    """`hub` → None; anything else must be an existing folder."""
    if value in ("", "hub"):
        return None
    path = Path(value).expanduser().resolve()
    if not path.is_dir():
        raise ConfigError(f"dataset source {value!r} is not a folder; use `hub` or a Hub-like mirror folder")
    return path


def _repo_dir(root: Path, repo_id: str) -> Path | None:
    if repo_id.count("/") != 1 or repo_id.startswith((".", "/")):
        return None
    candidate = root / repo_id
    return candidate if candidate.is_dir() else None


def _missing(repo_id: str, root: Path) -> ConfigError:
    return ConfigError(
        f"dataset {repo_id} is not in the local dataset source {root}; add it there "
        "or set EVALJOBS_DATASET_SOURCE=hub"
    )


def _route_script_builders(load_dataset: Any) -> None:
    """Script-based repos (piqa, medqa): read the split parquet the mirror already generated.

    inspect_evals runs such builders inside a copy of the repo (made by snapshot_download,
    routed above); when that copy has `<config>/<split>-*.parquet`, the builder's own
    download and generation (which needs every split's source files) is skipped.
    """
    from datasets import GeneratorBasedBuilder

    prepare = GeneratorBasedBuilder.download_and_prepare
    as_dataset = GeneratorBasedBuilder.as_dataset

    def generated(builder: Any) -> Path | None:
        folder = Path.cwd() / str(builder.config.name)
        return folder if any(folder.glob("*.parquet")) else None

    def local_prepare(self: Any, *args: Any, **kwargs: Any) -> Any:
        return None if generated(self) else prepare(self, *args, **kwargs)

    def local_as_dataset(self: Any, split: Any = None, *args: Any, **kwargs: Any) -> Any:
        folder = generated(self)
        if folder is None:
            return as_dataset(self, split, *args, **kwargs)
        files = {p.name.split("-")[0]: str(p) for p in sorted(folder.glob("*.parquet"))}
        return load_dataset("parquet", data_files=files, split=str(split))

    GeneratorBasedBuilder.download_and_prepare = local_prepare  # type: ignore[method-assign]
    GeneratorBasedBuilder.as_dataset = local_as_dataset  # type: ignore[method-assign]


def _prefill_url_cache(root: Path) -> None:
    from inspect_evals.constants import INSPECT_EVALS_CACHE_PATH

    for cached, mirrored in _URL_FILES.items():
        source = root / "_url" / mirrored
        target = Path(INSPECT_EVALS_CACHE_PATH) / cached
        if source.exists() and not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, target)


def activate(source: Path | None) -> None:
    """Route Hugging Face dataset reads of this process to `source` (None: the Hub)."""
    global _active
    if source is None or _active == source:
        return
    if _active is not None:
        raise ConfigError(f"dataset source already set to {_active} in this process")
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["HF_DATASETS_OFFLINE"] = "1"
    import datasets
    import huggingface_hub

    load_dataset = datasets.load_dataset

    def local_load_dataset(path: str, *args: Any, **kwargs: Any) -> Any:
        local = _repo_dir(source, path)
        if local is None and not Path(path).exists() and "/" in path:
            raise _missing(path, source)
        if local is not None:
            kwargs.pop("revision", None)
            path = str(local)
        return load_dataset(path, *args, **kwargs)

    def local_snapshot_download(repo_id: str, *args: Any, local_dir: Any = None, **kwargs: Any) -> str:
        local = _repo_dir(source, repo_id)
        if local is None:
            raise _missing(repo_id, source)
        if local_dir is None:
            return str(local)
        shutil.copytree(local, local_dir, dirs_exist_ok=True)
        return str(local_dir)

    datasets.load_dataset = local_load_dataset
    huggingface_hub.snapshot_download = local_snapshot_download  # type: ignore[assignment]
    _route_script_builders(load_dataset)
    _prefill_url_cache(source)
    _active = source


def mirror_revision(source: Path | None) -> str:
    """What to record as the dataset revision: the Hub pins, or the mirror's manifest digest."""
    if source is None:
        return "hub (revisions pinned by inspect_evals)"
    manifest = source / "MANIFEST.json"
    if not manifest.exists():
        return f"local:{source}"
    import hashlib

    return f"local:{source.name}@sha256:{hashlib.sha256(manifest.read_bytes()).hexdigest()[:16]}"
