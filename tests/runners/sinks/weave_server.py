"""An in-memory Weave trace server for tests: the parts of weave 0.54's trace-server interface that
logging an evaluation and publishing a leaderboard use, with object digests computed the way the
real server computes them (weave ships that function). The weave wheel carries no trace server of
its own (its SQLite server lives only in weave's repository), so this stands in for one; everything
above it (weave.init, the client, EvaluationLogger, refs, publish) is weave's real code.
"""

from __future__ import annotations

import datetime
import hashlib
from collections.abc import Callable, Mapping
from typing import Any

import httpx
from weave.trace.serialization.digest import (
    compute_object_digest_result,
    compute_row_digest,
    compute_table_digest,
)
from weave.trace_server_bindings.http_utils import as_params
from weave.trace_server_bindings.models import EnsureProjectExistsRes
from weave.vendor.weave_server_sdk import NotFoundError
from weave.vendor.weave_server_sdk.types import (
    CallStartResponse,
    FeedbackCreateResponse,
    FileCreateResponse,
    ObjectCreateResponse,
    ObjectQueryResponse,
    ObjectReadResponse,
    ServerInfoRes,
    TableCreateResponse,
)

__all__ = ["InMemoryTraceServer", "not_found"]


def not_found(what: str) -> NotFoundError:
    """What weave's HTTP client raises for a missing object: the generated client's 404."""
    request = httpx.Request("POST", "http://trace.invalid/obj/read")
    response = httpx.Response(404, json={"reason": f"{what} not found"}, request=request)
    return NotFoundError(f"{what} not found", response=response, body=response.json())


class InMemoryTraceServer:
    """Objects (versioned, content-addressed), tables, files and calls, kept in dicts."""

    def __init__(self) -> None:
        self.objects: dict[tuple[str, str], list[dict[str, Any]]] = {}
        """(project_id, object_id) -> its versions, oldest first."""
        self.tables: dict[str, list[dict[str, Any]]] = {}
        self.files: dict[str, bytes] = {}
        self.calls: list[Mapping[str, Any]] = []
        self.feedback: list[Mapping[str, Any]] = []
        self.after_read: dict[str, Callable[[], None]] = {}
        """object_id -> run once after that object is read, before the reader gets its answer
        (a deterministic stand-in for another container acting in between)."""

    # service
    def server_info(self) -> ServerInfoRes:
        return ServerInfoRes(min_required_weave_python_version="0.0.0", trace_server_version="9.9.9")

    def ensure_project_exists(self, entity: str, project: str) -> EnsureProjectExistsRes:
        return EnsureProjectExistsRes(project_name=project)

    # objects
    def obj_create(self, req: Any) -> ObjectCreateResponse:
        obj = as_params(req)["obj"]
        result = compute_object_digest_result(obj["val"], obj.get("builtin_object_class"))
        versions = self.objects.setdefault((obj["project_id"], obj["object_id"]), [])
        # content already stored is not stored again: the latest stays where it is
        if all(version["digest"] != result.digest for version in versions):
            versions.append(
                {
                    "project_id": obj["project_id"],
                    "object_id": obj["object_id"],
                    "digest": result.digest,
                    "val": result.processed_val,
                    "base_object_class": result.base_object_class,
                    "leaf_object_class": result.leaf_object_class,
                    "version_index": len(versions),
                    "created_at": datetime.datetime.now(tz=datetime.UTC),
                    "kind": "object",
                }
            )
        return ObjectCreateResponse(digest=result.digest, object_id=obj["object_id"])

    def _version(self, project_id: str, object_id: str, digest: str) -> dict[str, Any]:
        versions = self.objects.get((project_id, object_id), [])
        for index, version in enumerate(versions):
            latest = index == len(versions) - 1
            if digest in (version["digest"], f"v{index}") or (digest == "latest" and latest):
                return {**version, "is_latest": int(latest)}
        raise not_found(f"{project_id}/{object_id}:{digest}")

    def obj_read(self, req: Any) -> ObjectReadResponse:
        params = as_params(req)
        try:
            found = self._version(params["project_id"], params["object_id"], params["digest"])
        finally:
            if (meanwhile := self.after_read.pop(params["object_id"], None)) is not None:
                meanwhile()
        return ObjectReadResponse.model_validate({"obj": found})

    def objs_query(self, req: Any) -> ObjectQueryResponse:
        params = as_params(req)
        wanted = set((params.get("filter") or {}).get("object_ids") or [])
        found = [
            {**versions[-1], "is_latest": 1}
            for (project_id, object_id), versions in self.objects.items()
            if project_id == params["project_id"] and (not wanted or object_id in wanted)
        ]
        return ObjectQueryResponse.model_validate({"objs": found})

    # tables and files
    def table_create(self, req: Any) -> TableCreateResponse:
        rows = list(as_params(req)["table"]["rows"])
        row_digests = [compute_row_digest(row) for row in rows]
        digest = compute_table_digest(row_digests)
        self.tables[digest] = rows
        return TableCreateResponse(digest=digest, row_digests=row_digests)

    def file_create(self, req: Any) -> FileCreateResponse:
        content = req["file"][1] if isinstance(req["file"], tuple) else req["file"]
        data = content if isinstance(content, bytes) else content.read()
        digest = hashlib.sha256(data).hexdigest()
        self.files[digest] = data
        return FileCreateResponse(digest=digest)

    # calls: kept as sent
    def calls_complete(self, req: Mapping[str, Any]) -> None:
        self.calls.extend(req.get("batch", []))

    def call_start(self, req: Any) -> CallStartResponse:
        start = as_params(req)["start"]
        self.calls.append({"start": start})
        return CallStartResponse(id=start["id"], trace_id=start["trace_id"])

    def call_end(self, req: Any) -> None:
        self.calls.append({"end": as_params(req)["end"]})

    def feedback_create(self, req: Any) -> FeedbackCreateResponse:
        params = as_params(req)
        self.feedback.append(params)
        return FeedbackCreateResponse(
            id=f"feedback-{len(self.feedback)}",
            created_at=datetime.datetime.now(tz=datetime.UTC),
            payload=dict(params["payload"]),
            wb_user_id="tester",
        )

    def __getattr__(self, name: str) -> Any:
        raise AttributeError(f"InMemoryTraceServer has no {name!r} (weave called a part it does not have)")
