"""Open the stores the settings choose: SQLite files in `EVALJOBS_HOME`, or one DynamoDB table."""

from __future__ import annotations

from dataclasses import dataclass

from evaljobs.settings import Settings, get_settings
from evaljobs.stores.base import JobRegistry, SecretStore, TriggerStore

__all__ = ["Stores", "open_registry", "open_secret_store", "open_stores", "open_trigger_store"]


@dataclass(frozen=True)
class Stores:
    """The stores of one deployment."""

    registry: JobRegistry
    triggers: TriggerStore
    secrets: SecretStore


def open_registry(settings: Settings | None = None) -> JobRegistry:
    """The job registry the settings choose: SQLite in `home`, or DynamoDB."""
    settings = settings or get_settings()
    if settings.registry == "dynamodb":
        from evaljobs.stores.dynamodb_registry import DynamoRegistry

        return DynamoRegistry(settings.dynamodb_table, settings=settings)
    from evaljobs.stores.sqlite_registry import SqliteRegistry

    return SqliteRegistry(settings.db_path)


def open_trigger_store(settings: Settings | None = None) -> TriggerStore:
    """The trigger store beside the registry (same SQLite file, or same DynamoDB table)."""
    settings = settings or get_settings()
    if settings.registry == "dynamodb":
        from evaljobs.stores.dynamodb_triggers import DynamoTriggerStore

        return DynamoTriggerStore(settings.dynamodb_table, settings=settings)
    from evaljobs.stores.sqlite_triggers import SqliteTriggerStore

    return SqliteTriggerStore(settings.db_path)


def open_secret_store(settings: Settings | None = None) -> SecretStore:
    """Entity secrets beside the registry: sealed in the SQLite file, or in AWS Secrets Manager."""
    settings = settings or get_settings()
    if settings.registry == "dynamodb":
        from evaljobs.stores.aws_secrets import AwsSecretStore

        return AwsSecretStore(settings.secrets_prefix, settings=settings)
    from evaljobs.stores.sqlite_secrets import SqliteSecretStore, load_or_create_key

    return SqliteSecretStore(
        settings.db_path, load_or_create_key(settings.secrets_key, settings.home / "secrets.key")
    )


def open_stores(settings: Settings | None = None) -> Stores:
    """Every store the settings choose."""
    settings = settings or get_settings()
    return Stores(open_registry(settings), open_trigger_store(settings), open_secret_store(settings))
