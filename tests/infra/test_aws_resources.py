"""AWS resources and the AWS adapters over real HTTP with real boto3, against a moto server."""

from __future__ import annotations

import ast
import json
import uuid
from pathlib import Path

import boto3
import pytest

from evaljobs.events import validate_event
from evaljobs.settings import Settings
from infra.aws_resources import deployment_policy, provision
from runners.artifacts import download_s3_prefix
from runners.sinks.completion_event import EventBridgeSink, SnsSink, SqsSink, sinks_for
from runners.sinks.eval_logs import upload_job_logs
from tests.evaljobs.test_events import finished_job


@pytest.fixture
def aws(aws_endpoint: str, monkeypatch: pytest.MonkeyPatch, home: Path) -> tuple[dict[str, str], Settings]:
    prefix = f"t{uuid.uuid4().hex[:8]}"
    resources = provision(prefix, endpoint_url=aws_endpoint).settings()
    monkeypatch.setenv("EVALJOBS_AWS_ENDPOINT_URL", aws_endpoint)
    from evaljobs.settings import get_settings

    get_settings.cache_clear()
    return resources, get_settings()


def client(service: str, endpoint: str):  # type: ignore[no-untyped-def]
    return boto3.client(service, endpoint_url=endpoint, region_name="us-east-1")


def test_provisioning_is_idempotent(aws_endpoint: str) -> None:
    first = provision("twice", endpoint_url=aws_endpoint)
    second = provision("twice", endpoint_url=aws_endpoint)
    assert first == second
    sns = client("sns", aws_endpoint)
    assert len(sns.list_subscriptions_by_topic(TopicArn=first.topic_arn)["Subscriptions"]) == 1
    events = client("events", aws_endpoint)
    assert len(events.list_targets_by_rule(Rule=first.rule, EventBusName=first.bus)["Targets"]) == 1
    buckets = [b["Name"] for b in client("s3", aws_endpoint).list_buckets()["Buckets"]]
    assert buckets.count(first.bucket) == 1
    assert (
        client("dynamodb", aws_endpoint).describe_table(TableName="twice-jobs")["Table"]["TableStatus"]
        == "ACTIVE"
    )


def receive(queue_url: str, endpoint: str) -> list[dict[str, object]]:
    sqs = client("sqs", endpoint)
    messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=2).get(
        "Messages", []
    )
    return [json.loads(m["Body"]) for m in messages]


def test_an_event_published_to_sns_arrives_on_the_queue_valid(
    aws: tuple[dict[str, str], Settings], aws_endpoint: str
) -> None:
    resources, settings = aws
    payload = _event()
    SnsSink(resources["EVALJOBS_EVENT_SNS_TOPIC_ARN"], settings).send(payload)
    [received] = receive(resources["COMPLETIONS_QUEUE_URL"], aws_endpoint)
    validate_event(received)  # type: ignore[arg-type]
    assert received == payload


def test_sqs_and_eventbridge_sinks(aws: tuple[dict[str, str], Settings], aws_endpoint: str) -> None:
    resources, settings = aws
    payload = _event()
    SqsSink(resources["COMPLETIONS_QUEUE_URL"], settings).send(payload)
    assert receive(resources["COMPLETIONS_QUEUE_URL"], aws_endpoint) == [payload]
    EventBridgeSink(resources["EVALJOBS_EVENT_BUS"], settings).send(payload)  # raises if refused
    with pytest.raises(Exception, match=r"(?i)not exist|not found|ResourceNotFound"):
        EventBridgeSink("no-such-bus", settings).send(payload)


def test_settings_choose_the_sinks(aws: tuple[dict[str, str], Settings]) -> None:
    resources, settings = aws
    configured = settings.model_copy(
        update={"event_sns_topic_arn": resources["EVALJOBS_EVENT_SNS_TOPIC_ARN"], "event_bus": "b"}
    )
    sinks = sinks_for(configured, "job-1")
    assert [type(s).__name__ for s in sinks] == ["JsonlOutbox", "SnsSink", "EventBridgeSink"]


def test_eval_logs_go_to_s3_and_s3_checkpoints_come_back(
    aws: tuple[dict[str, str], Settings], aws_endpoint: str, tmp_path: Path
) -> None:
    resources, _ = aws
    bucket = resources["EVALJOBS_EVAL_LOGS_BUCKET"]
    folder = tmp_path / "job"
    (folder / "logs").mkdir(parents=True)
    (folder / "job.log").write_text("hello\n")
    (folder / "logs" / "2026-arc.eval").write_bytes(b"PK\x03\x04 eval log")
    uri = upload_job_logs(folder, bucket, "job-1")
    assert uri == f"s3://{bucket}/jobs/job-1/"
    keys = sorted(o["Key"] for o in client("s3", aws_endpoint).list_objects_v2(Bucket=bucket)["Contents"])
    assert keys == ["jobs/job-1/job.log", "jobs/job-1/logs/2026-arc.eval"]
    cached = download_s3_prefix(uri, tmp_path / "cache")
    assert (cached / "logs" / "2026-arc.eval").read_bytes() == b"PK\x03\x04 eval log"
    assert download_s3_prefix(uri, tmp_path / "cache") == cached  # same ETags: cached, not fetched again


def _event() -> dict[str, object]:
    from evaljobs.events import completion_event

    return completion_event(finished_job()).model_dump(mode="json")


def test_the_bucket_name_is_the_deployments_own(aws_endpoint: str) -> None:
    account = client("sts", aws_endpoint).get_caller_identity()["Account"]
    here = provision("named", endpoint_url=aws_endpoint)
    assert here.bucket == f"named-eval-logs-{account}-us-east-1"  # S3 names are global: not `named-eval-logs`
    elsewhere = provision("named", region="eu-west-1", endpoint_url=aws_endpoint)
    assert elsewhere.bucket == f"named-eval-logs-{account}-eu-west-1"
    s3 = boto3.client("s3", endpoint_url=aws_endpoint, region_name="eu-west-1")
    assert s3.get_bucket_location(Bucket=elsewhere.bucket)["LocationConstraint"] == "eu-west-1"
    assert provision("named", endpoint_url=aws_endpoint, bucket="my-own-logs").bucket == "my-own-logs"
    with pytest.raises(ValueError, match="not a valid S3 bucket name"):
        provision("Upper_Case", endpoint_url=aws_endpoint)


def test_a_completion_event_on_the_bus_reaches_the_default_rules_log_group(
    aws: tuple[dict[str, str], Settings], aws_endpoint: str
) -> None:
    _, settings = aws
    deployment = provision(f"r{uuid.uuid4().hex[:8]}", endpoint_url=aws_endpoint)
    payload = _event()
    other = {"Source": "someone-else", "DetailType": str(payload["type"]), "Detail": json.dumps(payload)}
    client("events", aws_endpoint).put_events(Entries=[{**other, "EventBusName": deployment.bus}])
    EventBridgeSink(deployment.bus, settings).send(payload)  # the real emitter's source and detail-type
    logged = client("logs", aws_endpoint).filter_log_events(logGroupName=deployment.log_group)["events"]
    assert [json.loads(e["message"])["detail"] for e in logged] == [payload]  # and not the other one


# ---- the IAM policy covers every AWS call the deployment's code makes -------------------------

ROOT = Path(__file__).resolve().parents[2]
DEPLOYED = ["evaljobs", "runners", "functions"]  # infra/aws_resources.py runs with the operator's keys
IAM_NAMES = {  # where the IAM action is not the API operation's name
    ("s3", "list_objects_v2"): {"s3:ListBucket"},
    ("s3", "upload_file"): {"s3:PutObject", "s3:AbortMultipartUpload"},  # multipart above 8 MB
    ("s3", "download_file"): {"s3:GetObject"},  # HeadObject is authorised as GetObject too
}
TRANSACT_ITEMS = {
    "Put": "PutItem",
    "Update": "UpdateItem",
    "Delete": "DeleteItem",
    "ConditionCheck": "ConditionCheckItem",
}


def _clients(tree: ast.AST) -> dict[str, str]:
    """`expression -> service` for every `x = aws_client("service", ...)` in a module."""
    found: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign | ast.AnnAssign) and node.value is not None:
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            pairs = [
                pair
                for target in targets
                for pair in (
                    zip(target.elts, node.value.elts, strict=True)
                    if isinstance(target, ast.Tuple) and isinstance(node.value, ast.Tuple)
                    else [(target, node.value)]
                )
            ]
            for target, value in pairs:
                if (
                    isinstance(value, ast.Call)
                    and isinstance(value.func, ast.Name)
                    and value.func.id == "aws_client"
                    and isinstance(value.args[0], ast.Constant)
                ):
                    found[ast.unparse(target)] = value.args[0].value
    return found


def _calls(scope: ast.AST) -> set[str]:
    """The IAM actions of the boto3 client calls in one class or function."""
    clients, actions = _clients(scope), set()
    for node in ast.walk(scope):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
            continue
        service = clients.get(ast.unparse(node.func.value))
        method = node.func.attr
        if service is None or method == "transact_write_items":  # authorised per item kind: below
            continue
        if method == "get_paginator":
            method = node.args[0].value  # type: ignore[attr-defined]
        mapping = boto3.client(service, region_name="us-east-1").meta.method_to_api_mapping
        actions |= IAM_NAMES.get((service, method)) or {f"{service}:{mapping[method]}"}
        if service == "secretsmanager" and any(k.arg == "Tags" for k in node.keywords):
            actions.add("secretsmanager:TagResource")
    if "transact_write_items" in ast.unparse(scope):
        for node in ast.walk(scope):  # the transaction's items: {"Put": {"TableName": ..., ...}}
            if isinstance(node, ast.Dict):
                for key, value in zip(node.keys, node.values, strict=True):
                    if (
                        isinstance(key, ast.Constant)
                        and key.value in TRANSACT_ITEMS
                        and isinstance(value, ast.Dict)
                        and any(isinstance(k, ast.Constant) and k.value == "TableName" for k in value.keys)
                    ):
                        actions.add(f"dynamodb:{TRANSACT_ITEMS[key.value]}")
    return actions


def aws_calls_in_code() -> set[str]:
    """The IAM actions of every boto3 client call in the deployed packages, read from their
    source, class by class and function by function (`self.client` is a different client in each)."""
    return {
        action
        for package in DEPLOYED
        for path in (ROOT / package).rglob("*.py")
        for scope in ast.parse(path.read_text()).body
        for action in _calls(scope)
    }


def test_the_policy_allows_every_aws_call_the_code_makes(aws_endpoint: str) -> None:
    called = aws_calls_in_code()
    # the scan sees the calls it must (it cannot pass by finding nothing)
    assert {"dynamodb:PutItem", "dynamodb:Scan", "s3:ListBucket", "sns:Publish", "events:PutEvents"} <= called
    assert {"secretsmanager:ListSecrets", "secretsmanager:TagResource", "sqs:SendMessage"} <= called
    policy = deployment_policy(provision("iam", endpoint_url=aws_endpoint))
    allowed = {a for s in policy["Statement"] if s["Effect"] == "Allow" for a in s["Action"]}
    assert called - allowed == set(), "add these to infra.aws_resources.deployment_policy"
    assert allowed - called == set(), "the policy allows actions the code never calls"


def test_the_policy_names_the_created_resources(aws_endpoint: str) -> None:
    deployment = provision("arns", endpoint_url=aws_endpoint)
    policy = deployment_policy(deployment, secrets_prefix="team-secrets")
    resources = {
        r
        for s in policy["Statement"]
        for r in ([s["Resource"]] if isinstance(s["Resource"], str) else s["Resource"])
    }
    table_arn = client("dynamodb", aws_endpoint).describe_table(TableName="arns-jobs")["Table"]["TableArn"]
    bus_arn = client("events", aws_endpoint).describe_event_bus(Name=deployment.bus)["Arn"]
    assert {
        table_arn,
        f"{table_arn}/index/*",
        bus_arn,
        deployment.topic_arn,
        deployment.queue_arn,
    } <= resources
    assert f"arn:aws:s3:::{deployment.bucket}/jobs/*" in resources
    secrets = f"arn:aws:secretsmanager:us-east-1:{deployment.account}:secret:team-secrets/*"
    assert secrets in resources and "*" in resources  # `*` only for ListSecrets, which takes no resource
    star = [s for s in policy["Statement"] if s["Resource"] == "*"]
    assert [s["Action"] for s in star] == [["secretsmanager:ListSecrets"]]


def test_deployments_in_one_account_share_the_one_log_resource_policy(aws_endpoint: str) -> None:
    """CloudWatch Logs allows 10 resource policies per account and region: the eleventh
    deployment (or test run) must not fail on a policy of its own."""
    region = "ca-central-1"
    for n in range(11):
        provision(f"many{n}", region=region, endpoint_url=aws_endpoint)
    logs = boto3.client("logs", endpoint_url=aws_endpoint, region_name=region)
    [policy] = logs.describe_resource_policies()["resourcePolicies"]
    assert policy["policyName"] == "TrustEventsToStoreLogEvent"
