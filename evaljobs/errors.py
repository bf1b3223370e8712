"""One exception hierarchy for evaljobs.

Every error a user can see derives from `EvalJobError`; its message says what to
do. Foreign exceptions (vLLM, inspect-ai, wandb, sqlite) are translated at the
boundary where they are caught.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

__all__ = [
    "CheckpointError",
    "ConfigError",
    "EvalJobError",
    "EvaluationError",
    "JobNotFoundError",
    "JobValidationError",
    "ModelServerError",
    "SecretError",
    "ServerOutOfMemoryError",
    "ValidationIssue",
    "issues_from_pydantic",
    "json_pointer",
]


class EvalJobError(Exception):
    """Base class of every error evaljobs raises on purpose."""


class ConfigError(EvalJobError):
    """A setting or a file the user wrote cannot be read."""


@dataclass(frozen=True)
class ValidationIssue:
    """One thing wrong with a job, located by a JSON pointer into the job document."""

    pointer: str
    """JSON pointer (RFC 6901) to the offending value; "" is the whole document."""
    message: str
    """What is wrong and what to do about it."""

    def __str__(self) -> str:
        return f"{self.pointer or '/'}: {self.message}"


def json_pointer(path: Iterable[Any]) -> str:
    """The JSON pointer (RFC 6901) of a path of keys and indexes; "" for the empty path."""
    return "".join(f"/{str(p).replace('~', '~0').replace('/', '~1')}" for p in path)


def issues_from_pydantic(
    errors: ValidationError | Iterable[Mapping[str, Any]], prefix: str = ""
) -> list[ValidationIssue]:
    """One issue per pydantic error, located at `prefix` + the pointer of its `loc`.

    Takes a `ValidationError` or its `errors()` list (FastAPI's request errors have that shape).
    """
    details = errors.errors() if isinstance(errors, ValidationError) else errors
    return [
        ValidationIssue(prefix + json_pointer(e.get("loc", ())), str(e.get("msg", "invalid")))
        for e in details
    ]


class JobValidationError(EvalJobError):
    """The job document failed schema or semantic validation."""

    def __init__(self, issues: list[ValidationIssue]) -> None:
        self.issues = issues
        lines = "\n".join(f"  - {issue}" for issue in issues)
        super().__init__(f"the job is not valid ({len(issues)} problem(s)):\n{lines}")


class SecretError(EvalJobError):
    """A `secret://NAME` reference cannot be resolved."""


class JobNotFoundError(EvalJobError):
    """No job with that id in the registry."""


class CheckpointError(EvalJobError):
    """The model checkpoint cannot be resolved or is not servable."""


class ModelServerError(EvalJobError):
    """The model server did not start, crashed, or never became healthy."""


class ServerOutOfMemoryError(ModelServerError):
    """The model server did not start: it ran out of GPU memory (weights, activations or KV cache)."""

    def __init__(self, message: str, line: str) -> None:
        super().__init__(message)
        self.line = line
        """The server's out-of-memory line."""


class EvaluationError(EvalJobError):
    """inspect-ai did not complete the job's benchmarks."""
