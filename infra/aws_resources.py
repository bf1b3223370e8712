"""Create or update evaljobs' AWS resources, idempotently (boto3).

    python infra/aws_resources.py --prefix evaljobs [--region us-east-1] [--endpoint-url http://127.0.0.1:5000]

Resources: the DynamoDB jobs table, the S3 bucket for eval logs (and `s3://` checkpoints),
an SNS topic for completion events with an SQS queue subscribed to it (raw delivery), and an
EventBridge bus. Running it again changes nothing. Prints the `EVALJOBS_*` settings to use.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

import boto3

__all__ = ["provision"]


def provision(prefix: str, region: str = "us-east-1", endpoint_url: str | None = None) -> dict[str, str]:
    """Ensure every resource exists; returns the settings that point evaljobs at them."""
    from evaljobs.stores.dynamodb_registry import create_jobs_table

    def client(service: str) -> Any:
        return boto3.client(service, region_name=region, endpoint_url=endpoint_url)

    table = f"{prefix}-jobs"
    create_jobs_table(client("dynamodb"), table)

    s3 = client("s3")
    bucket = f"{prefix}-eval-logs"
    existing = {b["Name"] for b in s3.list_buckets().get("Buckets", [])}
    if bucket not in existing:
        kwargs: dict[str, Any] = {"Bucket": bucket}
        if region != "us-east-1":
            kwargs["CreateBucketConfiguration"] = {"LocationConstraint": region}
        s3.create_bucket(**kwargs)

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

    return {
        "EVALJOBS_REGISTRY": "dynamodb",
        "EVALJOBS_DYNAMODB_TABLE": table,
        "EVALJOBS_EVAL_LOGS_BUCKET": bucket,
        "EVALJOBS_EVENT_SNS_TOPIC_ARN": topic_arn,
        "EVALJOBS_EVENT_BUS": bus,
        "EVALJOBS_AWS_REGION": region,
        "COMPLETIONS_QUEUE_URL": queue_url,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--prefix", default="evaljobs")
    parser.add_argument("--region", default="us-east-1")
    parser.add_argument(
        "--endpoint-url", default=None, help="an AWS-compatible endpoint (moto) instead of AWS"
    )
    args = parser.parse_args()
    for key, value in provision(args.prefix, args.region, args.endpoint_url).items():
        print(f"{key}={value}")


if __name__ == "__main__":
    main()
