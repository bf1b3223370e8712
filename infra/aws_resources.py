"""Create or update evaljobs' AWS resources, idempotently (boto3); print the settings and the
IAM policy the deployment needs.

    python infra/aws_resources.py --prefix evaljobs [--region us-east-1] [--bucket NAME]
                                  [--endpoint-url http://127.0.0.1:5000]

Resources: the DynamoDB jobs table, the S3 bucket for eval logs (and `s3://` checkpoints),
an SNS topic for completion events with an SQS queue subscribed to it (raw delivery), and an
EventBridge bus whose rule sends every completion event to a CloudWatch Logs group. Running
it again changes nothing. Prints the `EVALJOBS_*` settings, then the least-privilege IAM
policy for the user whose keys the deployment uses (docs/deploy.md).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import re
from dataclasses import dataclass
from typing import Any

import boto3

from evaljobs.events import CompletionEvent
from runners.sinks.completion_event import EVENT_SOURCE

__all__ = ["Deployment", "deployment_policy", "eval_logs_bucket_name", "provision"]

_BUCKET = re.compile(r"^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$")
COMPLETED = CompletionEvent.model_fields["type"].default
"""The detail-type of the completion event on the bus (`job.completed`)."""
LOG_RETENTION_DAYS = 30


@dataclass(frozen=True)
class Deployment:
    """What `provision` created, and where."""

    partition: str
    region: str
    account: str
    table: str
    bucket: str
    topic_arn: str
    queue_url: str
    queue_arn: str
    bus: str
    rule: str
    log_group: str

    def arn(self, service: str, resource: str) -> str:
        """An ARN of this deployment's account and region."""
        return f"arn:{self.partition}:{service}:{self.region}:{self.account}:{resource}"

    def settings(self) -> dict[str, str]:
        """The settings that point evaljobs at these resources (and the consumers' queue)."""
        return {
            "EVALJOBS_REGISTRY": "dynamodb",
            "EVALJOBS_DYNAMODB_TABLE": self.table,
            "EVALJOBS_EVAL_LOGS_BUCKET": self.bucket,
            "EVALJOBS_EVENT_SNS_TOPIC_ARN": self.topic_arn,
            "EVALJOBS_EVENT_BUS": self.bus,
            "EVALJOBS_AWS_REGION": self.region,
            "COMPLETIONS_QUEUE_URL": self.queue_url,
        }


def eval_logs_bucket_name(prefix: str, account: str, region: str) -> str:
    """`PREFIX-eval-logs-ACCOUNT-REGION`: S3 names are global, so a fixed name would collide with
    the next deployment; this one is the same on every run of the same deployment."""
    name = f"{prefix}-eval-logs-{account}-{region}"
    if not _BUCKET.match(name):
        raise ValueError(
            f"{name!r} is not a valid S3 bucket name (3-63 lowercase letters, digits, hyphens); "
            "use a shorter lowercase --prefix or name the bucket with --bucket"
        )
    return name


def _ensure_bucket(s3: Any, bucket: str, region: str) -> None:
    if bucket in {b["Name"] for b in s3.list_buckets().get("Buckets", [])}:
        return
    kwargs: dict[str, Any] = {"Bucket": bucket}
    if region != "us-east-1":
        kwargs["CreateBucketConfiguration"] = {"LocationConstraint": region}
    try:
        s3.create_bucket(**kwargs)
    except s3.exceptions.BucketAlreadyOwnedByYou:
        return
    except s3.exceptions.BucketAlreadyExists as exc:
        raise ValueError(f"S3 bucket {bucket} belongs to another account; name one with --bucket") from exc


EVENTS_LOG_POLICY = "TrustEventsToStoreLogEvent"
"""The account's resource policy letting EventBridge write `/aws/events/*` log groups."""


def _ensure_completion_rule(events: Any, logs: Any, d: Deployment) -> None:
    """The bus's default rule: every completion event to a CloudWatch Logs group."""
    with contextlib.suppress(logs.exceptions.ResourceAlreadyExistsException):
        logs.create_log_group(logGroupName=d.log_group)
    logs.put_retention_policy(logGroupName=d.log_group, retentionInDays=LOG_RETENTION_DAYS)
    # EventBridge writes to a log group only when a resource policy lets it. An account has at
    # most 10 of those per region, so every deployment shares the one the AWS console itself
    # creates for EventBridge targets: `/aws/events/*` groups, written by EventBridge only.
    logs.put_resource_policy(
        policyName=EVENTS_LOG_POLICY,
        policyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": {"Service": ["events.amazonaws.com", "delivery.logs.amazonaws.com"]},
                        "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
                        "Resource": d.arn("logs", "log-group:/aws/events/*:*"),
                    }
                ],
            }
        ),
    )
    events.put_rule(
        Name=d.rule,
        EventBusName=d.bus,
        EventPattern=json.dumps({"source": [EVENT_SOURCE], "detail-type": [COMPLETED]}),
        State="ENABLED",
        Description="evaljobs completion events to CloudWatch Logs (add your own targets to this rule)",
    )
    events.put_targets(  # same Id: replaced, not added twice
        Rule=d.rule,
        EventBusName=d.bus,
        Targets=[{"Id": "completions-log", "Arn": d.arn("logs", f"log-group:{d.log_group}")}],
    )


def provision(
    prefix: str, region: str | None = None, endpoint_url: str | None = None, bucket: str | None = None
) -> Deployment:
    """Ensure every resource exists; returns where they are.

    `region` defaults to boto3's own chain (`AWS_DEFAULT_REGION`, the AWS config file).
    """
    from evaljobs.stores.dynamodb_registry import create_jobs_table

    region = region or boto3.session.Session().region_name
    if not region:
        raise ValueError("no AWS region: pass --region or set AWS_DEFAULT_REGION")

    def client(service: str) -> Any:
        return boto3.client(service, region_name=region, endpoint_url=endpoint_url)

    identity = client("sts").get_caller_identity()
    account, partition = identity["Account"], identity["Arn"].split(":")[1]

    table = f"{prefix}-jobs"
    create_jobs_table(client("dynamodb"), table)

    bucket = bucket or eval_logs_bucket_name(prefix, account, region)
    _ensure_bucket(client("s3"), bucket, region)

    sns, sqs = client("sns"), client("sqs")
    topic_arn = sns.create_topic(Name=f"{prefix}-completions")["TopicArn"]  # idempotent by name
    queue_url = sqs.create_queue(QueueName=f"{prefix}-completions")["QueueUrl"]  # idempotent by name
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "sns.amazonaws.com"},
                "Action": "sqs:SendMessage",
                "Resource": queue_arn,
                "Condition": {"ArnEquals": {"aws:SourceArn": topic_arn}},
            }
        ],
    }
    sqs.set_queue_attributes(QueueUrl=queue_url, Attributes={"Policy": json.dumps(policy)})
    subscribed = {
        s["Endpoint"] for s in sns.list_subscriptions_by_topic(TopicArn=topic_arn).get("Subscriptions", [])
    }
    if queue_arn not in subscribed:
        sns.subscribe(
            TopicArn=topic_arn, Protocol="sqs", Endpoint=queue_arn, Attributes={"RawMessageDelivery": "true"}
        )

    events = client("events")
    bus = f"{prefix}-events"
    if bus not in {b["Name"] for b in events.list_event_buses().get("EventBuses", [])}:
        events.create_event_bus(Name=bus)
    deployment = Deployment(
        partition=partition,
        region=region,
        account=account,
        table=table,
        bucket=bucket,
        topic_arn=topic_arn,
        queue_url=queue_url,
        queue_arn=queue_arn,
        bus=bus,
        rule=f"{prefix}-completions",
        log_group=f"/aws/events/{prefix}-completions",
    )
    _ensure_completion_rule(events, client("logs"), deployment)
    return deployment


def deployment_policy(
    d: Deployment, secrets_prefix: str = "evaljobs", model_buckets: tuple[str, ...] = ()
) -> dict[str, Any]:
    """The IAM policy the deployment's code needs on these resources, and nothing else.

    `secrets_prefix` is `EVALJOBS_SECRETS_PREFIX`; `model_buckets` are other buckets that
    `s3://` checkpoints are read from (`EVALJOBS_S3_BUCKETS`). Nothing here creates resources:
    that is this script's job, run with the operator's own credentials.
    """
    table_arn = d.arn("dynamodb", f"table/{d.table}")
    read_buckets = (d.bucket, *model_buckets)
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "JobRegistryAndTriggers",
                "Effect": "Allow",
                # transact_write_items is authorised per item: its Puts and Deletes
                "Action": [
                    f"dynamodb:{a}" for a in ("GetItem", "PutItem", "UpdateItem", "DeleteItem", "Scan")
                ],
                "Resource": [table_arn, f"{table_arn}/index/*"],
            },
            {
                "Sid": "EvalLogCopies",
                "Effect": "Allow",
                "Action": ["s3:PutObject", "s3:AbortMultipartUpload"],
                "Resource": f"arn:{d.partition}:s3:::{d.bucket}/jobs/*",
            },
            {
                "Sid": "CheckpointReads",
                "Effect": "Allow",
                "Action": ["s3:GetObject"],
                "Resource": [f"arn:{d.partition}:s3:::{b}/*" for b in read_buckets],
            },
            {
                "Sid": "CheckpointListings",
                "Effect": "Allow",
                "Action": ["s3:ListBucket"],
                "Resource": [f"arn:{d.partition}:s3:::{b}" for b in read_buckets],
            },
            {"Sid": "CompletionTopic", "Effect": "Allow", "Action": ["sns:Publish"], "Resource": d.topic_arn},
            # only used when EVALJOBS_EVENT_SQS_QUEUE_URL names the completions queue directly
            {
                "Sid": "CompletionQueue",
                "Effect": "Allow",
                "Action": ["sqs:SendMessage"],
                "Resource": d.queue_arn,
            },
            {
                "Sid": "CompletionBus",
                "Effect": "Allow",
                "Action": ["events:PutEvents"],
                "Resource": d.arn("events", f"event-bus/{d.bus}"),
            },
            {
                "Sid": "EntitySecrets",
                "Effect": "Allow",
                "Action": [
                    f"secretsmanager:{a}"
                    for a in (
                        "CreateSecret",
                        "TagResource",  # create_secret with Tags
                        "PutSecretValue",
                        "GetSecretValue",
                        "DescribeSecret",
                        "DeleteSecret",
                    )
                ],
                "Resource": d.arn("secretsmanager", f"secret:{secrets_prefix.strip('/')}/*"),
            },
            {  # ListSecrets takes no resource; the store filters by its name prefix
                "Sid": "EntitySecretNames",
                "Effect": "Allow",
                "Action": ["secretsmanager:ListSecrets"],
                "Resource": "*",
            },
        ],
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--prefix", default="evaljobs", help="lowercase; names every resource")
    parser.add_argument("--region", default=None, help="default: boto3's chain (AWS_DEFAULT_REGION)")
    parser.add_argument(
        "--bucket", default=None, help="eval-logs bucket (default: PREFIX-eval-logs-ACCOUNT-REGION)"
    )
    parser.add_argument(
        "--secrets-prefix", default="evaljobs", help="EVALJOBS_SECRETS_PREFIX of the deployment"
    )
    parser.add_argument(
        "--model-bucket", action="append", default=[], help="another bucket s3:// checkpoints are read from"
    )
    parser.add_argument(
        "--endpoint-url", default=None, help="an AWS-compatible endpoint (moto) instead of AWS"
    )
    args = parser.parse_args()
    deployment = provision(args.prefix, args.region, args.endpoint_url, args.bucket)
    for key, value in deployment.settings().items():
        print(f"{key}={value}")
    if args.secrets_prefix != "evaljobs":
        print(f"EVALJOBS_SECRETS_PREFIX={args.secrets_prefix}")
    policy = deployment_policy(deployment, args.secrets_prefix, tuple(args.model_bucket))
    print("\n# IAM policy for the deployment's user (docs/deploy.md):")
    print(json.dumps(policy, indent=2))


if __name__ == "__main__":
    main()
