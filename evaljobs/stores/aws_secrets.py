"""Entity secrets in AWS Secrets Manager (boto3), named `PREFIX/ENTITY/NAME`."""

from __future__ import annotations

from typing import Any

from evaljobs.settings import Settings
from evaljobs.stores.aws import aws_client

__all__ = ["AwsSecretStore"]


class AwsSecretStore:
    """Named secrets per entity in Secrets Manager; the runner reads values, the API only names."""

    def __init__(self, prefix: str, settings: Settings | None = None) -> None:
        self.prefix = prefix.strip("/")
        self.client: Any = aws_client("secretsmanager", settings)

    def _id(self, entity: str, name: str) -> str:
        return f"{self.prefix}/{entity}/{name}"

    def put_secret(self, entity: str, name: str, value: str) -> None:
        """Store (or replace) `name` for `entity`."""
        try:
            self.client.put_secret_value(SecretId=self._id(entity, name), SecretString=value)
        except self.client.exceptions.ResourceNotFoundException:
            self.client.create_secret(
                Name=self._id(entity, name),
                SecretString=value,
                Tags=[{"Key": "evaljobs:entity", "Value": entity}],
            )

    def secret_names(self, entity: str) -> list[str]:
        """The names `entity` has stored, sorted."""
        start = f"{self.prefix}/{entity}/"
        names: list[str] = []
        for page in self.client.get_paginator("list_secrets").paginate(
            Filters=[{"Key": "name", "Values": [start]}]
        ):
            # the name filter matches prefixes; keep exact children of this entity only
            names += [s["Name"][len(start) :] for s in page["SecretList"] if s["Name"].startswith(start)]
        return sorted(n for n in names if "/" not in n)

    def delete_secret(self, entity: str, name: str) -> bool:
        """Remove it at once (no recovery window); False when there was none."""
        # a forced delete of a missing secret succeeds quietly, so ask first
        try:
            self.client.describe_secret(SecretId=self._id(entity, name))
        except self.client.exceptions.ResourceNotFoundException:
            return False
        self.client.delete_secret(SecretId=self._id(entity, name), ForceDeleteWithoutRecovery=True)
        return True

    def secret_value(self, entity: str, name: str) -> str | None:
        """The value, for the runner of one of `entity`'s jobs; None when not stored."""
        try:
            answer = self.client.get_secret_value(SecretId=self._id(entity, name))
        except self.client.exceptions.ResourceNotFoundException:
            return None
        value: str = answer["SecretString"]
        return value
