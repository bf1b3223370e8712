"""Runner processes on this machine: start one detached, and tell whether one still lives."""

from __future__ import annotations

import os
import subprocess
import sys

from evaljobs.settings import Settings

__all__ = ["runner_alive", "spawn_runner"]


def spawn_runner(settings: Settings, job_id: str, step: str | None = None) -> subprocess.Popen[bytes]:
    """Start `python -m runners.job ID` detached (its own session: it outlives the caller);
    with `step` (`--sinks`), `python -m runners.job STEP ID`."""
    folder = settings.jobs_dir / job_id
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / "runner.out").open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "runners.job", *([step] if step else []), job_id],
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            env={**os.environ, "EVALJOBS_HOME": str(settings.home.resolve())},
        )


def runner_alive(pid: object) -> bool:
    """True when the runner process `pid` exists."""
    if not pid:
        return False
    try:
        os.kill(int(str(pid)), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
