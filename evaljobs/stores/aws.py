"""boto3 clients configured by the settings (region; a local AWS-compatible endpoint in tests)."""

from __future__ import annotations

from typing import Any

from evaljobs.settings import Settings, get_settings

__all__ = ["aws_client"]


def aws_client(service: str, settings: Settings | None = None) -> Any:
    """A boto3 client for `service` (imported here: boto3 is heavy and only the AWS adapters need it)."""
    import boto3

    settings = settings or get_settings()
    return boto3.client(service, endpoint_url=settings.aws_endpoint_url, region_name=settings.aws_region)
