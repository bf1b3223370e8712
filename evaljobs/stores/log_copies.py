"""A job's logs where this process can read them.

On one machine the runner's job folder is right here. On Modal it is not: the runner wrote on
its own container's disk (a Volume the api does not mount), and the eval-log sink copied the
job log and eval logs to `s3://bucket/jobs/<id>/` when the job ended. Readers (the api's log,
samples and compare routes) ask here and get local paths either way: the runner's files when
its host is this one (a path names a file on its own host only), else the S3 copies,
downloaded once into `home/log-copies/` (a finished job's logs do not change).
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath

from evaljobs.records import JobRecord, this_host
from evaljobs.settings import Settings

__all__ = ["job_log", "readable"]


def _copy(job: JobRecord, relative: PurePosixPath, settings: Settings) -> Path | None:
    """The S3 copy of `relative` (a path inside the job folder), downloaded; None if there is none."""
    uri = job.runtime.eval_logs_uri
    if not uri or not uri.startswith("s3://") or ".." in relative.parts or relative.is_absolute():
        return None
    from botocore.exceptions import ClientError

    from evaljobs.stores.aws import aws_client

    bucket, _, prefix = uri.removeprefix("s3://").partition("/")
    target = settings.home / "log-copies" / job.id / relative
    if not target.is_file():
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(target.name + ".part")
        try:
            aws_client("s3", settings).download_file(bucket, prefix + str(relative), str(partial))
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return None
            raise
        partial.replace(target)
    return target


def _folder(job: JobRecord, settings: Settings) -> Path:
    return Path(job.runtime.job_dir or settings.jobs_dir / job.id)


def _here(job: JobRecord) -> bool:
    """The job's runner ran on this host (or has not recorded one), so its paths are ours."""
    return job.runtime.host in (None, this_host())


def job_log(job: JobRecord, settings: Settings) -> Path | None:
    """The job's log: the runner's file when it is on this machine, else its S3 copy."""
    local = _folder(job, settings) / "job.log"
    if _here(job) and local.is_file():
        return local
    return _copy(job, PurePosixPath("job.log"), settings)


def readable(job: JobRecord, settings: Settings) -> JobRecord:
    """The job with each result's eval log at a path this process can read (its S3 copy when the
    runner's file is elsewhere); a log found nowhere keeps its recorded path."""
    folder = _folder(job, settings)
    results = []
    for result in job.results:
        path = Path(result.log_path) if result.log_path else None
        if path is not None and not (_here(job) and path.is_file()) and path.is_relative_to(folder):
            copy = _copy(job, PurePosixPath(path.relative_to(folder).as_posix()), settings)
            if copy is not None:
                result = result.model_copy(update={"log_path": str(copy)})
        results.append(result)
    return job.model_copy(update={"results": results})
