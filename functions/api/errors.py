"""Error bodies of the HTTP API: every 4xx says what is wrong, a 422 locates each problem by JSON pointer."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from evaljobs.errors import JobValidationError, ValidationIssue, issues_from_pydantic

__all__ = [
    "ERROR_RESPONSES",
    "ErrorBody",
    "ErrorItem",
    "Unprocessable",
    "install_error_handlers",
    "unprocessable",
]


class ErrorItem(BaseModel):
    """One problem, located."""

    pointer: str
    """JSON pointer (RFC 6901) into the request body (or `query/name`, `path/name`)."""
    message: str
    """What is wrong and what to do."""


class ErrorBody(BaseModel):
    """Every error response."""

    detail: str
    """Summary."""
    errors: list[ErrorItem] = Field(default_factory=list)
    """Each problem (422)."""


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorBody, "description": "No or unknown API token"},
    403: {"model": ErrorBody, "description": "The token's entities do not include this one"},
    404: {"model": ErrorBody, "description": "Not found (or not visible to this token)"},
    422: {"model": ErrorBody, "description": "Invalid; every problem with its JSON pointer"},
}
"""The errors every token-guarded route may answer."""


class Unprocessable(Exception):
    """A request the API understood but cannot accept; rendered as 422 with every issue."""

    def __init__(self, issues: Sequence[ValidationIssue]) -> None:
        super().__init__(f"{len(issues)} problem(s)")
        self.issues = list(issues)


def unprocessable(issues: Sequence[tuple[str, str]]) -> Unprocessable:
    """An Unprocessable from (pointer, message) pairs."""
    return Unprocessable([ValidationIssue(p, m) for p, m in issues])


def _request_issues(exc: RequestValidationError) -> list[ValidationIssue]:
    """Body problems point into the body; the others are named by where they are (`query/limit`)."""
    issues: list[ValidationIssue] = []
    for error in exc.errors():
        where, *rest = error.get("loc") or ("body",)
        prefix = "" if where == "body" else str(where)
        issues += issues_from_pydantic([{**error, "loc": rest}], prefix)
    return issues


def _response(issues: Sequence[ValidationIssue]) -> JSONResponse:
    body = ErrorBody(
        detail=f"the request is not valid ({len(issues)} problem(s))",
        errors=[ErrorItem(pointer=i.pointer, message=i.message) for i in issues],
    )
    return JSONResponse(body.model_dump(), status_code=422)


def install_error_handlers(app: FastAPI) -> None:
    """422s in one shape, whether FastAPI, pydantic or our validation found the problem."""

    async def unprocessable_handler(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, Unprocessable | JobValidationError)
        return _response(exc.issues)

    async def request_handler(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        return _response(_request_issues(exc))

    app.add_exception_handler(Unprocessable, unprocessable_handler)
    app.add_exception_handler(JobValidationError, unprocessable_handler)
    app.add_exception_handler(RequestValidationError, request_handler)
