"""Copy a job's eval logs and job log to S3, where readers in other containers find them."""

from __future__ import annotations

from pathlib import Path

from evaljobs.records import JobRecord, Runtime
from runners.sinks.base import SinkContext

__all__ = ["EvalLogCopySink", "upload_job_logs"]


def upload_job_logs(folder: Path, bucket: str, job_id: str) -> str:
    """Copy the job's eval logs and job log to `s3://bucket/jobs/<id>/`; returns that prefix."""
    from evaljobs.stores.aws import aws_client

    s3 = aws_client("s3")
    prefix = f"jobs/{job_id}/"
    files = [folder / "job.log", *sorted((folder / "logs").rglob("*.eval"))]
    for path in files:
        if path.is_file():
            s3.upload_file(str(path), bucket, prefix + str(path.relative_to(folder)))
    return f"s3://{bucket}/{prefix}"


class EvalLogCopySink:
    """The eval-log copy to `EVALJOBS_EVAL_LOGS_BUCKET`, when one is configured."""

    name = "eval-logs"

    def __init__(self, bucket: str) -> None:
        self.bucket = bucket

    def write(self, job: JobRecord, ctx: SinkContext) -> Runtime | None:
        uri = upload_job_logs(ctx.folder, self.bucket, job.id)
        ctx.say(f"eval logs copied to {uri}")
        return Runtime(eval_logs_uri=uri)
