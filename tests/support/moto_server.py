"""moto's standalone server: a real local AWS-compatible endpoint (S3, DynamoDB, SQS, SNS, EventBridge)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.support.live_server import free_port, wait_until_up

FAKE_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}


@contextmanager
def moto_server() -> Iterator[str]:
    """Start `moto_server` on a free port; yields its endpoint URL."""
    port = free_port()
    server = subprocess.Popen(
        [str(Path(sys.executable).with_name("moto_server")), "-p", str(port)],
        env={**os.environ, **FAKE_CREDENTIALS},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(url + "/moto-api/", server)
        yield url
    finally:
        server.terminate()
        server.wait(30)


def new_table(endpoint: str) -> str:
    """A fresh, empty jobs table on the moto server; returns its name."""
    import uuid

    import boto3

    from evaljobs.registry_dynamodb import create_jobs_table

    name = f"t-{uuid.uuid4().hex[:8]}"
    create_jobs_table(boto3.client("dynamodb", endpoint_url=endpoint, region_name="us-east-1"), name)
    return name
