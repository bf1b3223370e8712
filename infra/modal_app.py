"""evaljobs on Modal: the HTTP API and W&B webhook receiver, the cron tick, and the GPU runner.

    modal deploy infra/modal_app.py        # (or `evaljobs deploy`)

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

import os
from typing import Any

import modal

MINUTES = 60
HOURS = 60 * MINUTES

APP_NAME = os.environ.get("EVALJOBS_MODAL_APP", "evaljobs")
GPU = os.environ.get("EVALJOBS_MODAL_GPU", "H100:2")
"""Two GPUs by default; the type is configurable at deploy time."""

# What changes results is pinned exactly (recorded with every job, too).
RUNNER_PACKAGES = [
    "vllm==0.32.0",
    "inspect-ai==0.3.285",
    "inspect-evals==0.26.0",
    "wandb==0.31.0",
    "weave>=0.51",
    "boto3>=1.35",
    "openai>=1.60",
    "pydantic>=2.10",
    "pydantic-settings>=2.6",
    "jsonschema>=4.23",
    "pyyaml>=6",
    "typer>=0.15",
    "rich>=13",
    "httpx>=0.27",
    "tenacity>=8",
]
API_PACKAGES = [
    "fastapi>=0.115",
    "uvicorn>=0.32",
    "croniter>=5",
    "boto3>=1.35",
    "httpx>=0.27",
    "pydantic>=2.10",
    "pydantic-settings>=2.6",
    "jsonschema>=4.23",
    "pyyaml>=6",
    "tenacity>=8",
    "typer>=0.15",
    "rich>=13",
    "inspect-evals==0.26.0",  # the catalog reads its eval.yaml files; no heavy imports at request time
    "modal>=1.0",
]
SOURCE = ("evaljobs", "functions", "runners", "schemas")

CLOUD_SETTINGS = {
    "EVALJOBS_REGISTRY": "dynamodb",
    "EVALJOBS_EXECUTOR": "modal",
    "EVALJOBS_MODAL_APP": APP_NAME,
    "EVALJOBS_WANDB_MODE": "online",
    "EVALJOBS_HOME": "/data/evaljobs",
}
RUNNER_SETTINGS = {
    **CLOUD_SETTINGS,
    "EVALJOBS_GPU_COUNT": "2",
    "EVALJOBS_MODEL_CACHE": "/cache/models",
    "HF_HOME": "/cache/huggingface",
}

runner_image = (
    modal.Image.debian_slim(python_version="3.11")
    .pip_install(*RUNNER_PACKAGES)
    .env(RUNNER_SETTINGS)
    .add_local_python_source(*SOURCE)
)
api_image = (
    modal.Image.debian_slim(python_version="3.11")
    .pip_install(*API_PACKAGES)
    .env(CLOUD_SETTINGS)
    .add_local_python_source(*SOURCE)
)

hf_cache = modal.Volume.from_name("evaljobs-hf-cache", create_if_missing=True)
weights = modal.Volume.from_name("evaljobs-weights", create_if_missing=True)
eval_logs = modal.Volume.from_name("evaljobs-eval-logs", create_if_missing=True)
RUNNER_VOLUMES = {"/cache/huggingface": hf_cache, "/cache/models": weights, "/data/evaljobs": eval_logs}

aws = modal.Secret.from_name(
    "evaljobs-aws", required_keys=["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION"]
)
config = modal.Secret.from_name("evaljobs-config", required_keys=["EVALJOBS_DYNAMODB_TABLE"])
wandb_key = modal.Secret.from_name("evaljobs-wandb", required_keys=["WANDB_API_KEY"])
hf_token = modal.Secret.from_name("evaljobs-hf", required_keys=["HF_TOKEN"])
RUNNER_SECRETS = [aws, config, wandb_key, hf_token]
API_SECRETS = [aws, config]

RUNNER_TIMEOUT = 24 * HOURS
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
)
class Runner:
    """Runs one job per call on two GPUs. Stateless: everything is in the registry row.

    Each job names its own model, so the vLLM server starts inside `run` (once per job);
    `prepare` does the per-container work once: settings, registry client, heavy imports.
    """

    @modal.enter()
    def prepare(self) -> None:
        from evaljobs.settings import get_settings
        from evaljobs.stores import open_registry

        self.settings = get_settings()
        self.registry = open_registry(self.settings)

    @modal.method()
    def run(self, job_id: str) -> str:
        """Run the job to its end; returns its final status."""
        from runners.job import run_job

        status = run_job(job_id, self.registry, self.settings).value
        self._commit()
        return status

    @modal.exit()
    def close(self) -> None:
        self._commit()

    @staticmethod
    def _commit() -> None:
        """Persist what this container wrote to the Volumes (a no-op outside Modal)."""
        if os.environ.get("MODAL_TASK_ID"):
            for volume in RUNNER_VOLUMES.values():
                volume.commit()


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
    """Start the jobs of due cron policies (a missed tick runs once)."""
    from evaljobs.settings import get_settings
    from functions.scheduler import Scheduler
    from functions.serve import build_services

    return [job.id for job in Scheduler(build_services(get_settings())).tick()]
