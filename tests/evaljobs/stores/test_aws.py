"""The one boto3 client helper follows boto3's own region chain unless evaljobs is told one."""

from __future__ import annotations

import pytest

from evaljobs.settings import Settings
from evaljobs.stores.aws import aws_client


def test_the_region_comes_from_aws_default_region_unless_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    monkeypatch.delenv("EVALJOBS_AWS_REGION", raising=False)
    assert aws_client("s3", Settings()).meta.region_name == "eu-west-1"
    assert aws_client("s3", Settings(aws_region="ap-south-1")).meta.region_name == "ap-south-1"
