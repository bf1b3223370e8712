"""The stores: the job registry and the trigger state, behind two protocols.

Adapters: SQLite (one machine; `sqlite_registry`, `sqlite_triggers`) and DynamoDB (the cloud;
`dynamodb_registry`, `dynamodb_triggers`), chosen by `EVALJOBS_REGISTRY` in `open_stores`.
"""

from evaljobs.stores.base import (
    ALL_ENTITIES,
    Delivery,
    JobRegistry,
    Principal,
    SecretStore,
    TriggerStore,
    WebhookCredential,
    hash_token,
)
from evaljobs.stores.factory import Stores, open_registry, open_secret_store, open_stores, open_trigger_store

__all__ = [
    "ALL_ENTITIES",
    "Delivery",
    "JobRegistry",
    "Principal",
    "SecretStore",
    "Stores",
    "TriggerStore",
    "WebhookCredential",
    "hash_token",
    "open_registry",
    "open_secret_store",
    "open_stores",
    "open_trigger_store",
]
