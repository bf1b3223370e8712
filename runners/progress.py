"""Live progress per benchmark, through inspect-ai hooks (no patching of the engine).

The runner points `ProgressFile` at `<job dir>/progress.json`; the hook counts finished
samples per task and rewrites the file (atomically, at most a few times a second). The
CLI reads it to draw one progress bar per benchmark.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any, ClassVar

from inspect_ai.hooks import Hooks, SampleEnd, TaskEnd, TaskStart, hooks

__all__ = ["ProgressFile", "read_progress"]


class ProgressFile:
    """Where this process reports progress; None disables the hook."""

    path: Path | None = None
    state: ClassVar[dict[str, dict[str, Any]]] = {}
    _last_write = 0.0

    @classmethod
    def start(cls, path: Path) -> None:
        cls.path, cls.state, cls._last_write = path, {}, 0.0

    @classmethod
    def stop(cls) -> None:
        cls.flush()
        cls.path = None

    @classmethod
    def flush(cls, throttle_s: float = 0.0) -> None:
        if cls.path is None or time.monotonic() - cls._last_write < throttle_s:
            return
        tmp = cls.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(cls.state))
        os.replace(tmp, cls.path)
        cls._last_write = time.monotonic()


def _task_id(name: str) -> str:
    return name.removeprefix("inspect_evals/")


@hooks(name="evaljobs_progress", description="Per-benchmark progress for evaljobs")
class ProgressHook(Hooks):
    def enabled(self) -> bool:
        return ProgressFile.path is not None

    async def on_task_start(self, data: TaskStart) -> None:
        spec = data.spec
        samples = spec.dataset.samples or 0
        epochs = spec.config.epochs or 1
        ProgressFile.state[data.eval_id] = {
            "benchmark": _task_id(spec.task),
            "total": samples * epochs,
            "done": 0,
            "status": "running",
        }
        ProgressFile.flush()

    async def on_sample_end(self, data: SampleEnd) -> None:
        entry = ProgressFile.state.get(data.eval_id)
        if entry is not None:
            entry["done"] += 1
            ProgressFile.flush(throttle_s=0.25)

    async def on_task_end(self, data: TaskEnd) -> None:
        entry = ProgressFile.state.get(data.eval_id)
        if entry is not None:
            entry["status"] = data.log.status
            ProgressFile.flush()


def read_progress(*paths: Path) -> dict[str, dict[str, Any]]:
    """Progress by benchmark id (the latest attempt wins), summed over the job's harness
    processes (`progress.shard-P.json` beside each path) and over the runners of a job that
    fanned out (one path each); `shards` says how many reported."""
    merged: dict[str, dict[str, Any]] = {}
    files = [f for path in paths for f in [path, *sorted(path.parent.glob(f"{path.stem}.shard-*.json"))]]
    for file in files:
        try:
            raw: dict[str, dict[str, Any]] = json.loads(file.read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            continue
        latest = {entry["benchmark"]: entry for entry in raw.values()}
        for bench, entry in latest.items():
            if bench not in merged:
                merged[bench] = {**entry, "shards": 1}
                continue
            seen = merged[bench]
            seen["total"] += entry["total"]
            seen["done"] += entry["done"]
            seen["shards"] += 1
            if entry["status"] != "success":  # running or failed anywhere: so is the benchmark
                seen["status"] = entry["status"] if seen["status"] == "success" else seen["status"]
    return merged
