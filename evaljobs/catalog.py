"""The benchmark catalog, resolved against the installed inspect_evals.

`data/catalog.yaml` lists the ids (W&B's 105) and the requirements inspect_evals does not
state; each eval's own `eval.yaml` supplies title, description, category, sample counts
and dataset sources. An id the installed inspect_evals no longer has is reported as
unavailable, never crashed on.
"""

from __future__ import annotations

import re
from functools import lru_cache
from importlib import resources
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, Field

__all__ = ["CatalogEntry", "Requirements", "get_catalog", "load_catalog"]


class Requirements(BaseModel):
    """What a benchmark needs beyond a model that generates text."""

    judge: bool = False
    """Scored by a grader model: needs `grader` or `secrets.scorer_api_key`."""
    gated: bool = False
    """Reads a gated Hugging Face dataset: needs `secrets.hf_token`."""
    tools: bool = False
    """Uses tool calling: a checkpoint must be served with `tool_calling: true`."""
    vision: bool = False
    """Sends images: the model must accept image input."""
    sandbox: list[str] = Field(default_factory=list)
    """Parts that run in a sandbox (solver, scorer)."""
    internet: bool = False
    """Needs internet access while running."""
    extras: list[str] = Field(default_factory=list)
    """inspect_evals pip extras the task imports."""


class CatalogEntry(BaseModel):
    """One benchmark of the catalog."""

    id: str
    """The id jobs use; also the inspect_evals task name."""
    task: str
    """inspect-ai task reference, `inspect_evals/<id>`."""
    available: bool
    """False when the installed inspect_evals does not have the task."""
    reason: str | None = None
    """Why it is unavailable."""
    title: str = ""
    """The eval's title."""
    category: str = ""
    """The eval's group (Reasoning, Knowledge, Safeguards, …)."""
    description: str = ""
    """What the benchmark measures."""
    datasets: list[str] = Field(default_factory=list)
    """Where its data comes from (Hugging Face repo or URL)."""
    samples: int | None = None
    """Samples in the full evaluation set."""
    offline: bool = False
    """The offline mirror has its data."""
    loglikelihood: bool = False
    """Can be scored by log-likelihood (`scoring: loglikelihood`)."""
    requires: Requirements = Field(default_factory=Requirements)
    """What it needs to run."""


def _evals_root() -> Path | None:
    try:
        return Path(str(resources.files("inspect_evals")))
    except ModuleNotFoundError:
        return None


def _installed_tasks(root: Path | None) -> dict[str, tuple[dict[str, Any], dict[str, Any]]]:
    """task name → (eval.yaml document, the task's entry in it)."""
    found: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {}
    if root is None:
        return found
    for path in sorted(root.glob("*/eval.yaml")):
        doc = yaml.safe_load(path.read_text()) or {}
        for task in doc.get("tasks") or []:
            found[task["name"]] = (doc, task)
    return found


def inspect_evals_version() -> str | None:
    """The installed inspect_evals version."""
    try:
        return version("inspect_evals")
    except PackageNotFoundError:
        return None


def _missing_extra(extra: str) -> list[str]:
    """The distributions of inspect_evals' pip extra `extra` that are not installed."""
    from importlib.metadata import PackageNotFoundError, requires, version

    try:
        wanted = requires("inspect_evals") or []
    except PackageNotFoundError:
        return []
    missing = []
    for line in wanted:
        name, _, marker = line.partition(";")
        if f'extra == "{extra}"' not in marker.replace("'", '"'):
            continue
        dist = re.split(r"[\s<>=!~\[@(]", name.strip(), maxsplit=1)[0]
        try:
            version(dist)
        except PackageNotFoundError:
            missing.append(dist)
    return missing


def load_catalog() -> dict[str, CatalogEntry]:
    """Build the catalog from the overlay and the installed inspect_evals."""
    overlay = yaml.safe_load(resources.files("evaljobs").joinpath("data/catalog.yaml").read_text())
    defaults: dict[str, Any] = overlay["defaults"]
    installed = _installed_tasks(_evals_root())
    iev = inspect_evals_version() or "not installed"
    entries: dict[str, CatalogEntry] = {}
    for bench_id, notes in overlay["benchmarks"].items():
        flags = {**defaults, **(notes or {})}
        offline = bool(flags.pop("offline"))
        loglikelihood = bool(flags.pop("loglikelihood"))
        extras_unused = bool(flags.pop("extras_unused", False))
        if bench_id not in installed:
            entries[bench_id] = CatalogEntry(
                id=bench_id,
                task=f"inspect_evals/{bench_id}",
                available=False,
                reason=f"inspect_evals {iev} has no task {bench_id!r}",
                offline=offline,
                loglikelihood=loglikelihood,
                requires=Requirements(**flags),
            )
            continue
        doc, task = installed[bench_id]
        meta = doc.get("metadata") or {}
        requires = meta.get("requires") or {}
        # a task whose pip extra is missing fails when it starts; say so here, before a job is queued
        missing = _missing_extra(doc["dependency"]) if doc.get("dependency") and not extras_unused else []
        entries[bench_id] = CatalogEntry(
            id=bench_id,
            task=f"inspect_evals/{bench_id}",
            available=not missing,
            reason=(
                f"it needs inspect_evals[{doc['dependency']}]: {', '.join(missing)}"
                f" {'is' if len(missing) == 1 else 'are'} not installed"
                if missing
                else None
            ),
            title=doc.get("title", ""),
            category=doc.get("group", ""),
            description=" ".join(str(doc.get("description", "")).split()),
            datasets=[a["source"] for a in doc.get("external_assets") or [] if a.get("source")],
            samples=task.get("dataset_samples"),
            offline=offline,
            loglikelihood=loglikelihood,
            requires=Requirements(
                **flags,
                sandbox=list(meta.get("sandbox") or []),
                internet=bool(requires.get("internet", False)),
                extras=[doc["dependency"]] if doc.get("dependency") else [],
            ),
        )
    return entries


@lru_cache(maxsize=1)
def get_catalog() -> dict[str, CatalogEntry]:
    """The catalog, built once per process."""
    return load_catalog()
