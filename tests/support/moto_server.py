"""moto's standalone server: a real local AWS-compatible endpoint (S3, DynamoDB, SQS, SNS, EventBridge)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager

from tests.support.live_server import free_port, wait_until_up

FAKE_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}


# moto's own `moto_server` answers requests on threads without locking its backends, so two
# concurrent conditional writes can both pass (DynamoDB guarantees they cannot). One request
# at a time makes its conditional writes atomic, which is the behaviour the tests rely on.
_SERIAL_SERVER = """
import sys
from werkzeug.serving import run_simple
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
run_simple("127.0.0.1", int(sys.argv[1]), DomainDispatcherApplication(create_backend_app),
           threaded=False, request_handler=MotoRequestHandler)
"""


@contextmanager
def moto_server() -> Iterator[str]:
    """Start `moto_server` on a free port; yields its endpoint URL."""
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-c", _SERIAL_SERVER, str(port)],
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

    from evaljobs.stores.dynamodb_registry import create_jobs_table

    name = f"t-{uuid.uuid4().hex[:8]}"
    create_jobs_table(boto3.client("dynamodb", endpoint_url=endpoint, region_name="us-east-1"), name)
    return name
