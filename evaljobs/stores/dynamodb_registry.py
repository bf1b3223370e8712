"""The job registry on DynamoDB (boto3): the cloud adapter of `JobRegistry`.

One table, key `pk`. A job is one item (`job#ID`) holding its record and its results as
JSON, so results and the final status land in one conditional write. Every write is
conditional on the item's `version` (optimistic concurrency: many stateless containers
write the same rows), and a status change is made only when it is legal from the status
read in that same version. Idempotency keys are their own items (`key#KEY`), written in
one transaction with the job, so a key can never name two jobs.

Listing scans the table (fine for thousands of jobs; a GSI on entity/project is the next
step when a deployment outgrows that).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Collection
from typing import Any

from tenacity import (
    RetryError,
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
    wait_incrementing,
    wait_none,
)
from tenacity.wait import wait_base

from evaljobs.errors import JobNotFoundError
from evaljobs.records import (
    Accounting,
    BenchmarkResult,
    JobRecord,
    JobStatus,
    Runtime,
    may_transition,
    transitioned,
    utcnow,
)
from evaljobs.settings import Settings
from evaljobs.stores.aws import aws_client

__all__ = ["DynamoRegistry", "create_jobs_table"]

_ATTEMPTS = 20
"""Tries of one conditional write before giving up on a job that many writers change at once."""


def _retrying(retried: Any, wait: wait_base | None = None) -> Retrying:
    """Try again on `retried` (a botocore client's exception class), `_ATTEMPTS` times in all."""
    return Retrying(
        stop=stop_after_attempt(_ATTEMPTS), wait=wait or wait_none(), retry=retry_if_exception_type(retried)
    )


def create_jobs_table(client: Any, name: str) -> None:
    """Create the table if it does not exist (idempotent; used by infra/ and tests)."""
    try:
        client.create_table(
            TableName=name,
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
    except client.exceptions.ResourceInUseException:
        return
    client.get_waiter("table_exists").wait(TableName=name)


class DynamoRegistry:
    """Job registry in one DynamoDB table."""

    def __init__(self, table: str, settings: Settings | None = None) -> None:

        self.table = table
        self.client = aws_client("dynamodb", settings)

    # -- items ---------------------------------------------------------------------------

    @staticmethod
    def _item(record: JobRecord, results: list[BenchmarkResult], version: int) -> dict[str, Any]:
        parent = {"parent": {"S": record.shard.parent}} if record.shard else {}
        return {
            **parent,
            "pk": {"S": f"job#{record.id}"},
            "kind": {"S": "job"},
            "entity": {"S": record.entity},
            "project": {"S": record.project},
            "status": {"S": record.status.value},
            "created_at": {"S": record.created_at.isoformat()},
            "trigger_kind": {"S": record.trigger.kind},
            "doc": {"S": record.model_dump_json(exclude={"results"})},
            "results": {"S": json.dumps([r.model_dump(mode="json") for r in results])},
            "version": {"N": str(version)},
        }

    @staticmethod
    def _load(item: dict[str, Any]) -> tuple[JobRecord, list[BenchmarkResult], int]:
        record = JobRecord.model_validate_json(item["doc"]["S"])
        results = [BenchmarkResult.model_validate(r) for r in json.loads(item["results"]["S"])]
        record.results = results
        return record, results, int(item["version"]["N"])

    def _get_item(self, job_id: str) -> dict[str, Any]:
        item = self.client.get_item(
            TableName=self.table, Key={"pk": {"S": f"job#{job_id}"}}, ConsistentRead=True
        )
        if "Item" not in item:
            raise JobNotFoundError(f"no job {job_id!r}; `evaljobs list` shows the jobs there are")
        found: dict[str, Any] = item["Item"]
        return found

    def _mutate(
        self,
        job_id: str,
        change: Callable[[JobRecord, list[BenchmarkResult]], tuple[JobRecord, list[BenchmarkResult]] | None],
    ) -> bool:
        """Read, change, write if nobody wrote in between (else re-read); False if `change` refuses."""

        def attempt() -> bool:
            item = self._get_item(job_id)
            record, results, version = self._load(item)
            changed = change(record, results)
            if changed is None:
                return False
            new_item = self._item(*changed, version + 1)
            new_item["cancel_requested"] = item.get("cancel_requested", {"BOOL": False})
            # ConditionalCheckFailedException: somebody wrote in between; re-read at once
            self.client.put_item(
                TableName=self.table,
                Item=new_item,
                ConditionExpression="#version = :v",
                ExpressionAttributeNames={"#version": "version"},
                ExpressionAttributeValues={":v": {"N": str(version)}},
            )
            return True

        try:
            return _retrying(self.client.exceptions.ConditionalCheckFailedException)(attempt)
        except RetryError as exc:
            raise RuntimeError(f"job {job_id}: too many concurrent writers") from exc

    # -- JobRegistry -----------------------------------------------------------------------

    def create(self, record: JobRecord, idempotency_key: str | None = None) -> JobRecord:
        """Insert a new job; with a key already used, return that job instead."""
        item = self._item(record, [], 1)
        item["cancel_requested"] = {"BOOL": False}
        new = {
            "Put": {"TableName": self.table, "Item": item, "ConditionExpression": "attribute_not_exists(pk)"}
        }
        if idempotency_key is None:
            self.client.transact_write_items(TransactItems=[new])
            return record
        key = {
            "Put": {
                "TableName": self.table,
                "Item": {
                    "pk": {"S": f"key#{idempotency_key}"},
                    "kind": {"S": "key"},
                    "job_id": {"S": record.id},
                },
                "ConditionExpression": "attribute_not_exists(pk)",
            }
        }

        def attempt() -> JobRecord:
            try:
                self.client.transact_write_items(TransactItems=[key, new])
                return record
            except self.client.exceptions.TransactionCanceledException as exc:
                codes = [r.get("Code") for r in exc.response.get("CancellationReasons", [])]
                if codes and codes[0] == "ConditionalCheckFailed":  # the key is taken: that job is the one
                    existing = self.client.get_item(
                        TableName=self.table, Key={"pk": {"S": f"key#{idempotency_key}"}}, ConsistentRead=True
                    )
                    if "Item" in existing:
                        return self.get(existing["Item"]["job_id"]["S"])
                raise  # a concurrent transaction on the same key (TransactionConflict): try again shortly

        # waits 0.02 s, 0.04 s, 0.06 s, … between tries
        retrying = _retrying(
            self.client.exceptions.TransactionCanceledException, wait_incrementing(start=0.02, increment=0.02)
        )
        try:
            return retrying(attempt)
        except RetryError as exc:
            raise RuntimeError(f"idempotency key {idempotency_key!r}: too many concurrent writers") from exc

    def get(self, job_id: str) -> JobRecord:
        """The job with that id, or JobNotFoundError."""
        return self._load(self._get_item(job_id))[0]

    def _scan(self) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        for page in self.client.get_paginator("scan").paginate(
            TableName=self.table,
            FilterExpression="#kind = :job",
            ExpressionAttributeNames={"#kind": "kind"},
            ExpressionAttributeValues={":job": {"S": "job"}},
            ConsistentRead=True,
        ):
            items.extend(page["Items"])
        return items

    def jobs(
        self,
        *,
        project: str | None = None,
        status: JobStatus | None = None,
        entities: Collection[str] | None = None,
        trigger: str | None = None,
        limit: int = 100,
        oldest_first: bool = False,
        include_shards: bool = False,
    ) -> list[JobRecord]:
        """Newest jobs first (or oldest), filtered like the SQLite registry."""
        wanted = [
            item
            for item in self._scan()
            if (not project or item["project"]["S"] == project)
            and (not status or item["status"]["S"] == status.value)
            and (entities is None or item["entity"]["S"] in entities)
            and (not trigger or item["trigger_kind"]["S"] == trigger)
            and (include_shards or "parent" not in item)
        ]
        wanted.sort(key=lambda i: i["created_at"]["S"], reverse=not oldest_first)
        return [self._load(item)[0] for item in wanted[:limit]]

    def transition(
        self, job_id: str, to: JobStatus, *, error: str | None = None, runtime: Runtime | None = None
    ) -> bool:
        """Move a job to `to` if that is legal from its current status (merging `runtime` and
        setting `error` in the same write); False otherwise."""

        def change(
            record: JobRecord, results: list[BenchmarkResult]
        ) -> tuple[JobRecord, list[BenchmarkResult]] | None:
            if not may_transition(record, to):
                return None
            return transitioned(record, to, error, runtime), results

        return self._mutate(job_id, change)

    def finish(
        self,
        job_id: str,
        status: JobStatus,
        results: list[BenchmarkResult],
        error: str | None,
        accounting: Accounting | None = None,
    ) -> bool:
        """Write the results and the final status together, or nothing."""

        def change(
            record: JobRecord, _: list[BenchmarkResult]
        ) -> tuple[JobRecord, list[BenchmarkResult]] | None:
            if not status.terminal or not may_transition(record, status):
                return None
            return record.model_copy(
                update={"status": status, "error": error, "finished_at": utcnow(), "accounting": accounting}
            ), results

        return self._mutate(job_id, change)

    def update_runtime(
        self,
        job_id: str,
        patch: Runtime,
        *,
        versions: dict[str, str] | None = None,
        when: Callable[[JobRecord], bool] | None = None,
    ) -> bool:
        """Merge the fields `patch` sets (and `versions`) into the job, in one conditional write;
        with `when`, only if the job as it stands at that write passes it. Returns whether it wrote."""

        def change(
            record: JobRecord, results: list[BenchmarkResult]
        ) -> tuple[JobRecord, list[BenchmarkResult]] | None:
            if when is not None and not when(record):
                return None
            runtime = record.runtime.merged(patch)
            return record.model_copy(
                update={"runtime": runtime, "versions": {**record.versions, **(versions or {})}}
            ), results

        return self._mutate(job_id, change)

    def request_cancel(self, job_id: str) -> None:
        """Flag a job for cancellation; its runner stops at the next check."""
        try:
            self.client.update_item(
                TableName=self.table,
                Key={"pk": {"S": f"job#{job_id}"}},
                # bumping the version makes a concurrent read-modify-write re-read the flag
                UpdateExpression="SET cancel_requested = :t, #version = #version + :one",
                ConditionExpression="attribute_exists(pk)",
                ExpressionAttributeNames={"#version": "version"},
                ExpressionAttributeValues={":t": {"BOOL": True}, ":one": {"N": "1"}},
            )
        except self.client.exceptions.ConditionalCheckFailedException as exc:
            raise JobNotFoundError(f"no job {job_id!r}") from exc

    def cancel_requested(self, job_id: str) -> bool:
        """True once cancellation was requested."""
        return bool(self._get_item(job_id).get("cancel_requested", {}).get("BOOL"))

    def projects(self) -> list[tuple[str, str]]:
        """Every (entity, project) with at least one job."""
        return sorted({(i["entity"]["S"], i["project"]["S"]) for i in self._scan()})
