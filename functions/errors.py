"""Error bodies of the HTTP API: every 4xx says what is wrong, 422s locate it by JSON pointer."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field, ValidationError

from evaljobs.errors import JobValidationError, ValidationIssue

__all__ = [
    "ErrorBody",
    "ErrorItem",
    "Unprocessable",
    "from_pydantic",
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


class Unprocessable(Exception):
    """A request the API understood but cannot accept; rendered as 422 with every issue."""

    def __init__(self, issues: Sequence[ValidationIssue]) -> None:
        super().__init__(f"{len(issues)} problem(s)")
        self.issues = list(issues)


def _pointer(loc: Iterable[Any]) -> str:
    return "".join(f"/{str(p).replace('~', '~0').replace('/', '~1')}" for p in loc)


def unprocessable(issues: Sequence[tuple[str, str]]) -> Unprocessable:
    """An Unprocessable from (pointer, message) pairs."""
    return Unprocessable([ValidationIssue(p, m) for p, m in issues])


def from_pydantic(exc: ValidationError) -> Unprocessable:
    """An Unprocessable from a pydantic error (each location as a pointer)."""
    return Unprocessable([ValidationIssue(_pointer(e["loc"]), e["msg"]) for e in exc.errors()])


def _body(issues: Sequence[ValidationIssue]) -> dict[str, Any]:
    return ErrorBody(
        detail=f"the request is not valid ({len(issues)} problem(s))",
        errors=[ErrorItem(pointer=i.pointer, message=i.message) for i in issues],
    ).model_dump()


def install_error_handlers(app: FastAPI) -> None:
    """422s in one shape, whether FastAPI, pydantic or our validation found the problem."""

    async def unprocessable_handler(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, Unprocessable | JobValidationError)
        return JSONResponse(_body(exc.issues), status_code=422)

    async def request_handler(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        issues = []
        for e in exc.errors():
            loc = list(e.get("loc", ()))
            where = loc[0] if loc else "body"
            rest = loc[1:]
            pointer = _pointer(rest) if where == "body" else f"{where}{_pointer(rest)}"
            issues.append(ValidationIssue(pointer, str(e.get("msg", "invalid"))))
        return JSONResponse(_body(issues), status_code=422)

    app.add_exception_handler(Unprocessable, unprocessable_handler)
    app.add_exception_handler(JobValidationError, unprocessable_handler)
    app.add_exception_handler(RequestValidationError, request_handler)
