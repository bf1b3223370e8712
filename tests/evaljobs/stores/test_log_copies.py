"""A job's logs are read where its runner ran, or from their S3 copies (moto's server)."""

from __future__ import annotations

import uuid
from pathlib import Path

import boto3

from evaljobs.records import BenchmarkResult, JobRecord, Runtime, this_host
from evaljobs.settings import Settings
from evaljobs.stores.log_copies import job_log, readable


def _job(folder: Path, host: str, uri: str | None, job_id: str = "job-0123456789ab") -> JobRecord:
    return JobRecord(
        id=job_id,
        entity="team-a",
        project="evals",
        model="m",
        spec={"model": {"api": {"model": "openai/x"}}, "benchmarks": ["boolq"]},
        runtime=Runtime(job_dir=str(folder), host=host, eval_logs_uri=uri),
        results=[
            BenchmarkResult(
                benchmark="boolq", task="boolq", status="success", log_path=str(folder / "logs" / "b.eval")
            )
        ],
    )


def test_a_runner_elsewhere_is_read_from_its_s3_copy_never_from_a_same_named_path_here(
    tmp_path: Path, aws_endpoint: str
) -> None:
    # a path recorded by a runner in another container may name a file here too: not its file
    folder = tmp_path / "data" / "jobs" / "job-0123456789ab"
    (folder / "logs").mkdir(parents=True)
    (folder / "job.log").write_text("this host's file, not the runner's")
    (folder / "logs" / "b.eval").write_text("this host's eval log")
    bucket = f"logs-{uuid.uuid4().hex[:8]}"
    s3 = boto3.client("s3", endpoint_url=aws_endpoint, region_name="us-east-1")
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="jobs/job-0123456789ab/job.log", Body=b"the runner's log")
    s3.put_object(Bucket=bucket, Key="jobs/job-0123456789ab/logs/b.eval", Body=b"the runner's eval log")
    settings = Settings(home=tmp_path / "api-home", aws_endpoint_url=aws_endpoint)

    elsewhere = _job(folder, "runner-container-7", f"s3://{bucket}/jobs/job-0123456789ab/")
    log = job_log(elsewhere, settings)
    assert log is not None and log.read_text() == "the runner's log"
    [result] = readable(elsewhere, settings).results
    assert result.log_path and Path(result.log_path).read_text() == "the runner's eval log"

    here = _job(folder, this_host(), None)  # one machine: the runner's files are here
    assert job_log(here, settings) == folder / "job.log"
    assert readable(here, settings).results[0].log_path == str(folder / "logs" / "b.eval")

    uri = f"s3://{bucket}/jobs/job-ffffffffffff/"
    not_copied = _job(tmp_path / "gone", "runner-container-7", uri, job_id="job-ffffffffffff")
    assert job_log(not_copied, settings) is None  # 404 to the reader, not an error
