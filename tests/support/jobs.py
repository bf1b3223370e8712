"""Helpers to submit jobs in tests."""

from __future__ import annotations


class Deferred:
    """An executor that only remembers what was dispatched: the test runs the job itself."""

    def __init__(self) -> None:
        self.ids: list[str] = []

    def dispatch(self, job_id: str) -> None:
        self.ids.append(job_id)
