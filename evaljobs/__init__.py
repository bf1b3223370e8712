"""evaljobs' core: the job spec, what the registry records, validation, stores, events,
leaderboards and comparisons. It imports nothing from `functions/` or `runners/`.

The models most code needs are here; the rest lives in its module (`evaljobs.stores`,
`evaljobs.validation`, `evaljobs.leaderboard`, …).
"""

from evaljobs.errors import EvalJobError, JobValidationError, ValidationIssue
from evaljobs.records import BenchmarkResult, JobRecord, JobStatus, Runtime, Trigger
from evaljobs.settings import Settings, get_settings
from evaljobs.spec import JobSpec

__all__ = [
    "BenchmarkResult",
    "EvalJobError",
    "JobRecord",
    "JobSpec",
    "JobStatus",
    "JobValidationError",
    "Runtime",
    "Settings",
    "Trigger",
    "ValidationIssue",
    "get_settings",
]
