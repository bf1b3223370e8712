"""The Modal app: imports with no network; GPU, volumes, secrets, timeouts and schedule as
configured; the runner's job method runs on CPU with `.local()`."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from croniter import croniter

import infra.modal_app as modal_app

REPO = Path(__file__).resolve().parents[2]


def spec(obj: object) -> object:
    """What Modal recorded for a function or class (the decorator's arguments, resolved)."""
    target = obj._get_class_service_function() if hasattr(obj, "_get_class_service_function") else obj  # type: ignore[attr-defined]
    return target._spec_  # type: ignore[attr-defined]


def test_runner_has_two_gpus_volumes_and_secrets() -> None:
    runner = spec(modal_app.Runner)
    assert runner.gpus == "H100:2"  # type: ignore[attr-defined]
    assert set(runner.volumes) == {"/cache/huggingface", "/cache/models", "/cache/vllm", "/data/evaljobs"}  # type: ignore[attr-defined]
    names = sorted(repr(s) for s in runner.secrets)  # type: ignore[attr-defined]
    assert names == sorted(
        f"modal.Secret.from_name('{n}')"
        for n in ("evaljobs-aws", "evaljobs-config", "evaljobs-wandb", "evaljobs-hf")
    )
    assert modal_app.RUNNER_TIMEOUT == 24 * modal_app.HOURS and modal_app.API_TIMEOUT == 5 * modal_app.MINUTES
    assert modal_app.RUNNER_SETTINGS["EVALJOBS_GPU_COUNT"] == "2"
    assert "vllm==0.32.0" in modal_app.RUNNER_PACKAGES and "inspect-ai==0.3.285" in modal_app.RUNNER_PACKAGES


def test_api_and_tick_need_no_gpu_and_tick_is_a_cron() -> None:
    for function in (modal_app.api, modal_app.tick):
        assert spec(function).gpus is None  # type: ignore[attr-defined]
        assert sorted(repr(s) for s in spec(function).secrets) == [  # type: ignore[attr-defined]
            "modal.Secret.from_name('evaljobs-aws')",
            "modal.Secret.from_name('evaljobs-config')",
        ]
    assert croniter.is_valid(modal_app.TICK_SCHEDULE)
    assert "vllm" not in " ".join(modal_app.API_PACKAGES)  # the API image stays light


def test_finish_has_the_runners_image_volumes_and_secrets_and_no_gpu() -> None:
    """It merges shards' logs from the eval-log Volume and runs sinks that need the W&B key, for
    the api and tick containers, which have neither."""
    finish, runner = spec(modal_app.finish), spec(modal_app.Runner)
    assert finish.gpus is None  # type: ignore[attr-defined]
    assert finish.image is runner.image  # type: ignore[attr-defined]
    assert set(finish.volumes) == set(runner.volumes)  # type: ignore[attr-defined]
    assert sorted(map(repr, finish.secrets)) == sorted(map(repr, runner.secrets))  # type: ignore[attr-defined]
    assert "evaljobs-wandb" not in repr(spec(modal_app.api).secrets)  # type: ignore[attr-defined]


def test_the_gpu_type_is_configurable_and_the_import_needs_no_network() -> None:
    code = "import infra.modal_app as m; print(m.Runner._get_class_service_function()._spec_.gpus)"
    env = {
        **os.environ,
        "EVALJOBS_MODAL_GPU": "A100-80GB:2",
        "HTTPS_PROXY": "http://127.0.0.1:9",
        "MODAL_TOKEN_ID": "",
    }
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "A100-80GB:2"


@pytest.mark.vllm
def test_runner_method_runs_a_job_locally(
    home: Path, server: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    from evaljobs.records import Trigger
    from evaljobs.settings import get_settings
    from evaljobs.stores import open_secret_store
    from evaljobs.stores.sqlite_registry import SqliteRegistry
    from functions.submit import submit_job

    # a tenant's job, as the deployed api records it: its key in the entity's secret store
    open_secret_store(get_settings()).put_secret("local", "EJ_TEST_MODEL_KEY", server.api_key)  # type: ignore[attr-defined]
    ids: list[str] = []

    class Later:
        def dispatch(self, job_id: str) -> None:
            ids.append(job_id)

    submit_job(
        {
            "model": {
                "api": {
                    "model": f"vllm/{server.model}",  # type: ignore[attr-defined]
                    "base_url": server.base_url,  # type: ignore[attr-defined]
                    "api_key": "secret://EJ_TEST_MODEL_KEY",
                }
            },
            "benchmarks": ["arc_easy"],
            "limit": 2,
        },
        trigger=Trigger(kind="http"),
        registry=SqliteRegistry(get_settings().db_path),
        executor=Later(),
        settings=get_settings(),
    )
    assert modal_app.Runner().run.local(ids[0]) == "succeeded"


def test_the_gpu_count_follows_the_gpu_string() -> None:
    assert [modal_app.gpu_count(g) for g in ("H100:2", "A100-80GB:4", "A100-80GB", "L4")] == [2, 4, 1, 1]
    code = "import infra.modal_app as m; print(m.RUNNER_SETTINGS['EVALJOBS_GPU_COUNT'])"
    env = {**os.environ, "EVALJOBS_MODAL_GPU": "A100-80GB:4", "MODAL_TOKEN_ID": ""}
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0 and out.stdout.strip() == "4", out.stderr
