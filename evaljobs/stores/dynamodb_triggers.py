"""The trigger store on DynamoDB (boto3): tokens, webhook credentials, policies, deliveries.

Lives in the jobs table under its own key prefixes, so the cloud API and the cron tick
(stateless Modal containers) share one state. Schedule marks advance with a conditional
write (one scheduler wins a tick); delivery numbers come from an atomic counter. Policies
stored before names were per entity (`policy#NAME`) move to `policy#ENTITY#NAME` the first
time a store object touches policies.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Collection
from datetime import datetime
from typing import Any

from evaljobs.errors import EvalJobError
from evaljobs.policies import Policy
from evaljobs.records import utcnow
from evaljobs.settings import Settings
from evaljobs.stores import Delivery, Principal, WebhookCredential, hash_token
from evaljobs.stores.aws import aws_client

__all__ = ["DynamoTriggerStore"]


def _policy_key(entity: str, name: str) -> str:
    """Policies are named per entity (entity names hold no `#`)."""
    return f"policy#{entity}#{name}"


class DynamoTriggerStore:
    """Trigger state in the DynamoDB jobs table."""

    def __init__(self, table: str, settings: Settings | None = None) -> None:
        self.table = table
        self.client = aws_client("dynamodb", settings)
        self._policies_upgraded = False

    def _get(self, pk: str) -> dict[str, Any] | None:
        found: dict[str, Any] | None = self.client.get_item(
            TableName=self.table, Key={"pk": {"S": pk}}, ConsistentRead=True
        ).get("Item")
        return found

    def _scan(self, kind: str) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        for page in self.client.get_paginator("scan").paginate(
            TableName=self.table,
            FilterExpression="#kind = :k",
            ExpressionAttributeNames={"#kind": "kind"},
            ExpressionAttributeValues={":k": {"S": kind}},
            ConsistentRead=True,
        ):
            items.extend(page["Items"])
        return items

    def create_token(self, name: str, entities: Collection[str], admin: bool = False) -> str:
        """A new API token for `entities`, an admin's or a member's; only its hash is kept."""
        if not entities:
            raise EvalJobError("a token needs at least one entity (or `*` for all)")
        token = "ej_" + secrets.token_urlsafe(32)
        self.client.put_item(
            TableName=self.table,
            Item={
                "pk": {"S": f"token#{hash_token(token)}"},
                "kind": {"S": "token"},
                "name": {"S": name},
                "entities": {"S": json.dumps(sorted(entities))},
                "admin": {"BOOL": admin},
            },
        )
        return token

    def principal(self, token: str) -> Principal | None:
        """The token's owner, or None."""
        item = self._get(f"token#{hash_token(token)}")
        if item is None:
            return None
        admin = item.get("admin", {}).get("BOOL", False)  # items written before token roles: members
        return Principal(item["name"]["S"], frozenset(json.loads(item["entities"]["S"])), admin)

    def create_webhook(self, entity: str) -> tuple[str, str]:
        """A new (access token, signing secret) pair for the entity's W&B webhook."""
        token, secret = "ejw_" + secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        self.client.put_item(
            TableName=self.table,
            Item={
                "pk": {"S": f"hook#{hash_token(token)}"},
                "kind": {"S": "hook"},
                "entity": {"S": entity},
                "secret": {"S": secret},
            },
        )
        return token, secret

    def webhook_credential(self, access_token: str) -> WebhookCredential | None:
        """The entity and signing secret behind a webhook access token."""
        item = self._get(f"hook#{hash_token(access_token)}")
        return WebhookCredential(item["entity"]["S"], item["secret"]["S"]) if item else None

    def _upgrade_policies(self) -> None:
        """Move policies stored under their name alone to their entity's key, marks kept; once per
        store object, before its first policy call (one scan, like a listing)."""
        if self._policies_upgraded:
            return
        moved = [self._move_policy(i) for i in self._scan("policy") if i["pk"]["S"].count("#") == 1]
        self._policies_upgraded = all(moved)

    def _move_policy(self, item: dict[str, Any]) -> bool:
        """One old item to its new key; False when that must wait for another try."""
        old = {"pk": item["pk"]}
        name = Policy.model_validate_json(item["doc"]["S"]).name
        new_pk = _policy_key(item["entity"]["S"], name)
        try:
            self.client.transact_write_items(
                TransactItems=[
                    {
                        "Put": {
                            "TableName": self.table,
                            "Item": {**item, "pk": {"S": new_pk}},
                            "ConditionExpression": "attribute_not_exists(pk)",
                        }
                    },
                    {"Delete": {"TableName": self.table, "Key": old}},
                ]
            )
        except self.client.exceptions.TransactionCanceledException:
            if self._get(new_pk) is None:  # a conflict with another mover: the next call tries again
                return False
            # moved by another process (or written anew since): the old item is stale
            self.client.delete_item(TableName=self.table, Key=old)
        return True

    def put_policy(self, policy: Policy, now: datetime | None = None) -> None:
        """Create or replace a policy; a replaced one keeps its schedule mark."""
        self._upgrade_policies()
        self.client.update_item(
            TableName=self.table,
            Key={"pk": {"S": _policy_key(policy.entity, policy.name)}},
            UpdateExpression="SET #kind = :k, #entity = :e, #doc = :d, #mark = if_not_exists(#mark, :m)",
            ExpressionAttributeNames={"#kind": "kind", "#entity": "entity", "#doc": "doc", "#mark": "mark"},
            ExpressionAttributeValues={
                ":k": {"S": "policy"},
                ":e": {"S": policy.entity},
                ":d": {"S": policy.model_dump_json()},
                ":m": {"S": (now or utcnow()).isoformat()},
            },
        )

    def policy(self, entity: str, name: str) -> Policy | None:
        """The entity's policy of that name."""
        self._upgrade_policies()
        item = self._get(_policy_key(entity, name))
        return Policy.model_validate_json(item["doc"]["S"]) if item else None

    def policies(self, entities: Collection[str] | None = None) -> list[Policy]:
        """Every policy, or those of some entities, by entity and name."""
        self._upgrade_policies()
        found = [
            Policy.model_validate_json(i["doc"]["S"])
            for i in self._scan("policy")
            if entities is None or i["entity"]["S"] in entities
        ]
        return sorted(found, key=lambda p: (p.entity, p.name))

    def delete_policy(self, entity: str, name: str) -> bool:
        """Remove the entity's policy; False when there was none."""
        self._upgrade_policies()
        old = self.client.delete_item(
            TableName=self.table, Key={"pk": {"S": _policy_key(entity, name)}}, ReturnValues="ALL_OLD"
        )
        return "Attributes" in old

    def schedule_mark(self, entity: str, name: str) -> datetime | None:
        """The last tick a cron policy ran (its creation time before the first)."""
        self._upgrade_policies()
        item = self._get(_policy_key(entity, name))
        return datetime.fromisoformat(item["mark"]["S"]) if item and "mark" in item else None

    def advance_schedule(self, entity: str, name: str, tick: datetime, expected: datetime | None) -> bool:
        """Move the mark to `tick` if it still is `expected`."""
        self._upgrade_policies()
        condition = "attribute_exists(pk) AND " + (
            "#mark = :old" if expected else "attribute_not_exists(#mark)"
        )
        values = {":new": {"S": tick.isoformat()}}
        if expected:
            values[":old"] = {"S": expected.isoformat()}
        try:
            self.client.update_item(
                TableName=self.table,
                Key={"pk": {"S": _policy_key(entity, name)}},
                UpdateExpression="SET #mark = :new",
                ConditionExpression=condition,
                ExpressionAttributeNames={"#mark": "mark"},
                ExpressionAttributeValues=values,
            )
        except self.client.exceptions.ConditionalCheckFailedException:
            return False
        return True

    def record_delivery(self, delivery: Delivery) -> Delivery:
        """Append a delivery under the next sequence number; the same event again (same `key`) is
        counted on the first one (an atomic counter on its item) and that one is returned."""
        for _ in range(3):  # a twin's write in flight cancels ours: then it is there to count on
            if delivery.key is not None and (seen := self._repeat(delivery)) is not None:
                return seen
            counter = self.client.update_item(
                TableName=self.table,
                Key={"pk": {"S": "counter#deliveries"}},
                UpdateExpression="ADD #n :one",
                ExpressionAttributeNames={"#n": "n"},
                ExpressionAttributeValues={":one": {"N": "1"}},
                ReturnValues="UPDATED_NEW",
            )
            stored = delivery.model_copy(update={"id": int(counter["Attributes"]["n"]["N"])})
            item = {
                "pk": {"S": f"delivery#{stored.id:012d}"},
                "kind": {"S": "delivery"},
                "entity": {"S": stored.entity},
                "doc": {"S": stored.model_dump_json()},
            }
            if stored.key is None:
                self.client.put_item(TableName=self.table, Item=item)
                return stored
            claim = {"pk": {"S": f"dkey#{stored.key}"}, "kind": {"S": "dkey"}, "id": {"N": str(stored.id)}}
            try:  # the delivery and its key's claim in one write: a claim always has its delivery
                self.client.transact_write_items(
                    TransactItems=[
                        {
                            "Put": {
                                "TableName": self.table,
                                "Item": claim,
                                "ConditionExpression": "attribute_not_exists(pk)",
                            }
                        },
                        {"Put": {"TableName": self.table, "Item": item}},
                    ]
                )
            except self.client.exceptions.TransactionCanceledException:
                continue  # a twin claimed the key: count on its delivery
            return stored
        raise EvalJobError(f"delivery {delivery.key!r}: too many concurrent writers; send it again")

    def _repeat(self, delivery: Delivery) -> Delivery | None:
        """Count `delivery` on the earlier delivery of the same event; None when there is none."""
        claim = self._get(f"dkey#{delivery.key}")
        if claim is None:
            return None
        names = {"#r": "repeats", "#last": "last_received_at"}
        values = {":one": {"N": "1"}, ":now": {"S": delivery.received_at.isoformat()}}
        update = "ADD #r :one SET #last = :now"
        if delivery.outcome == "started":  # the twin that created the job may come after one that found it
            update += ", #o = :started"
            names["#o"], values[":started"] = "outcome", {"S": "started"}
        try:
            updated = self.client.update_item(
                TableName=self.table,
                Key={"pk": {"S": f"delivery#{int(claim['id']['N']):012d}"}},
                UpdateExpression=update,
                ConditionExpression="attribute_exists(pk)",
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
                ReturnValues="ALL_NEW",
            )
        except self.client.exceptions.ConditionalCheckFailedException:
            return None  # its delivery is gone
        return self._delivery(updated["Attributes"])

    @staticmethod
    def _delivery(item: dict[str, Any]) -> Delivery:
        found = Delivery.model_validate_json(item["doc"]["S"])
        if "outcome" in item:
            found = found.model_copy(update={"outcome": item["outcome"]["S"]})
        if "repeats" in item:
            found = found.model_copy(
                update={
                    "repeats": int(item["repeats"]["N"]),
                    "last_received_at": datetime.fromisoformat(item["last_received_at"]["S"]),
                }
            )
        return found

    def deliveries(self, entities: Collection[str] | None = None, limit: int = 100) -> list[Delivery]:
        """Newest deliveries first."""
        found = [
            self._delivery(i)
            for i in self._scan("delivery")
            if entities is None or i["entity"]["S"] in entities
        ]
        return sorted(found, key=lambda d: d.id, reverse=True)[:limit]
