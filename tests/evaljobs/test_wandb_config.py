from pathlib import Path

from evaljobs.spec import JobSpec
from evaljobs.validation import validate_job
from evaljobs.wandb_config import from_wandb_config, is_wandb_config, to_wandb_config
from tests.support.access import cli


def test_reads_wandb_checkpoint_config(home: Path) -> None:
    doc = {
        "tasks": ["arc_easy", "boolq"],
        "limit": 0,
        "artifact_path": "team/proj/model:v3",
        "create_leaderboard": False,
        "hf_token": "secret://HF_TOKEN",
    }
    assert is_wandb_config(doc)
    spec = validate_job(from_wandb_config(doc), cli({"HF_TOKEN": "x"}))
    assert spec.checkpoint and spec.checkpoint.uri == "team/proj/model:v3"
    assert spec.limit is None and spec.leaderboard is False


def test_reads_wandb_hosted_config(home: Path) -> None:
    doc = {
        "tasks": ["boolq"],
        "limit": 5,
        "model": {
            "model_name": "openai/gpt-4o-mini",
            "base_url": "https://api.openai.com/v1",
            "api_key_var": "OPENAI_API_KEY",
        },
    }
    spec = validate_job(from_wandb_config(doc), cli({"OPENAI_API_KEY": "sk"}))
    assert spec.api and spec.api.api_key == "secret://OPENAI_API_KEY" and spec.limit == 5


def test_export_round_trips_losslessly() -> None:
    spec = JobSpec.model_validate(
        {
            "model": {"checkpoint": {"uri": "/m", "max_model_len": 1024}},
            "benchmarks": ["boolq", {"id": "piqa", "limit": 3}],
            "limit": 7,
            "generation": {"temperature": 0},
        }
    )
    exported = to_wandb_config(spec)
    assert exported["tasks"] == ["boolq", "piqa"] and exported["artifact_path"] == "/m"
    assert JobSpec.model_validate(from_wandb_config(exported)) == spec


def test_wandb_forms_round_trip_through_ours(home: Path) -> None:
    """W&B's config → our job → W&B's config gives the same document, in both of W&B's forms."""
    checkpoint = {
        "tasks": ["arc_easy", "boolq", "piqa", "hellaswag"],
        "limit": 50,
        "artifact_path": "team/proj/gemma:v7",
        "create_leaderboard": True,
        "hf_token": "HF_TOKEN",
        "scorer_api_key": "OPENAI_API_KEY",
    }
    hosted = {
        "tasks": ["boolq"],
        "limit": 0,
        "model": {
            "model_name": "openai/gpt-4o-mini",
            "base_url": "https://api.openai.com/v1",
            "api_key_var": "OPENAI_API_KEY",
        },
        "create_leaderboard": False,
    }
    env = {"HF_TOKEN": "x", "OPENAI_API_KEY": "sk"}
    for doc in (checkpoint, hosted):
        spec = validate_job(from_wandb_config(doc), cli(env))
        exported = to_wandb_config(spec)
        assert {k: v for k, v in exported.items() if k != "evaljobs"} == doc
        # and the export, ours included, reads back as the same job
        assert validate_job(from_wandb_config(exported), cli(env)) == spec
