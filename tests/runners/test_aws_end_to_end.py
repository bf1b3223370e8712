"""A job end to end on the AWS adapters (moto server): DynamoDB registry, eval logs on S3,
completion event through SNS to SQS; and no secret value anywhere the job wrote.

The model is the shared vLLM CPU server in hosted-API form, so no second server starts.
"""

from __future__ import annotations

import io
import json
import uuid
import zipfile
from pathlib import Path

import boto3
import pytest

from evaljobs.events import validate_event
from evaljobs.records import JobStatus, Trigger
from evaljobs.settings import get_settings
from evaljobs.stores import open_registry, open_secret_store
from evaljobs.stores.aws_secrets import AwsSecretStore
from evaljobs.stores.dynamodb_registry import DynamoRegistry
from functions.submit import submit_job
from infra.aws_resources import provision
from runners.job import run_job
from runners.vllm_server import ServerInfo

pytestmark = pytest.mark.vllm

PLANTED = {
    "EJ_TEST_HF_TOKEN": f"hf_PLANTED{uuid.uuid4().hex}",
    "EJ_TEST_SCORER_KEY": f"sk-PLANTED{uuid.uuid4().hex}",
}


def readable(name: str, data: bytes) -> list[bytes]:
    """The bytes to scan: the data, and each member of an eval log (a zip)."""
    if name.endswith(".eval"):
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            return [data, *(z.read(n) for n in z.namelist())]
    return [data]


def test_job_on_aws_adapters_leaks_no_secret(
    home: Path, server: ServerInfo, aws_endpoint: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    resources = provision(f"e2e{uuid.uuid4().hex[:6]}", endpoint_url=aws_endpoint).settings()
    for key, value in {
        "EVALJOBS_REGISTRY": "dynamodb",
        "EVALJOBS_DYNAMODB_TABLE": resources["EVALJOBS_DYNAMODB_TABLE"],
        "EVALJOBS_EVAL_LOGS_BUCKET": resources["EVALJOBS_EVAL_LOGS_BUCKET"],
        "EVALJOBS_EVENT_SNS_TOPIC_ARN": resources["EVALJOBS_EVENT_SNS_TOPIC_ARN"],
        "EVALJOBS_AWS_ENDPOINT_URL": aws_endpoint,
        **PLANTED,  # also in the server's environment, where secret:// must not reach them
    }.items():
        monkeypatch.setenv(key, value)
    get_settings.cache_clear()
    settings = get_settings()
    registry = open_registry(settings)
    assert isinstance(registry, DynamoRegistry)
    # the job's secrets live in its entity's store: Secrets Manager beside the DynamoDB registry
    store = open_secret_store(settings)
    assert isinstance(store, AwsSecretStore)
    for name, value in {"EJ_TEST_MODEL_KEY": server.api_key, **PLANTED}.items():
        store.put_secret("local", name, value)
    queued: list[str] = []

    class Later:
        def dispatch(self, job_id: str) -> None:
            queued.append(job_id)

    job = submit_job(
        {
            "project": "aws",
            "model": {
                "api": {
                    "model": f"vllm/{server.model}",
                    "base_url": server.base_url,
                    "api_key": "secret://EJ_TEST_MODEL_KEY",
                }
            },
            "benchmarks": ["arc_easy", {"id": "boolq", "scoring": "generate"}],
            "limit": 2,
            "generation": {"temperature": 0, "max_tokens": 8},
            "secrets": {
                "hf_token": "secret://EJ_TEST_HF_TOKEN",
                "scorer_api_key": "secret://EJ_TEST_SCORER_KEY",
            },
        },
        trigger=Trigger(kind="http"),  # a tenant's job: secrets from its entity's store only
        registry=registry,
        executor=Later(),
        settings=settings,
    )
    assert run_job(job.id, registry, settings) is JobStatus.SUCCEEDED, registry.get(job.id).error

    ended = registry.get(job.id)
    assert [r.samples_completed for r in ended.results] == [2, 2]
    s3 = boto3.client("s3", endpoint_url=aws_endpoint, region_name="us-east-1")
    bucket = resources["EVALJOBS_EVAL_LOGS_BUCKET"]
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix=f"jobs/{job.id}/")["Contents"]]
    assert f"jobs/{job.id}/job.log" in keys and sum(k.endswith(".eval") for k in keys) == 2
    assert ended.runtime.eval_logs_uri == f"s3://{bucket}/jobs/{job.id}/"
    sqs = boto3.client("sqs", endpoint_url=aws_endpoint, region_name="us-east-1")
    messages = sqs.receive_message(QueueUrl=resources["COMPLETIONS_QUEUE_URL"], WaitTimeSeconds=5)["Messages"]
    [event] = [json.loads(m["Body"]) for m in messages]
    validate_event(event)
    assert (event["job_id"], event["status"]) == (job.id, "succeeded")

    # everything the job produced: local files, S3 objects, DynamoDB items, the event
    produced: list[tuple[str, bytes]] = [(str(p), p.read_bytes()) for p in home.rglob("*") if p.is_file()]
    produced += [(k, s3.get_object(Bucket=bucket, Key=k)["Body"].read()) for k in keys]
    dynamo = boto3.client("dynamodb", endpoint_url=aws_endpoint, region_name="us-east-1")
    items = dynamo.scan(TableName=resources["EVALJOBS_DYNAMODB_TABLE"])["Items"]
    produced.append(("dynamodb", json.dumps(items).encode()))
    produced += [("event", json.dumps(event).encode())]
    assert any("wandb" in name for name, _ in produced), (
        "the W&B offline run should be among the scanned files"
    )
    for name, data in produced:
        for chunk in readable(name, data):
            for secret in PLANTED.values():
                assert secret.encode() not in chunk, f"{secret[:10]}… leaked into {name}"
