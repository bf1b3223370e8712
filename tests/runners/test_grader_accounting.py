"""A model-graded benchmark spends the grader's tokens too: the job counts them apart from the
model's and prices them at the grader's prices.

Against the stub server (answering at once) as both the model under test and the grader, on
SimpleQA from the offline mirror with its original (letter-parsing) grader. The instruct
model does the same for real on the vLLM CPU server (tests/runners/test_instruct_model.py).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from evaljobs.records import JobStatus, Trigger
from evaljobs.settings import get_settings
from evaljobs.stores.sqlite_registry import SqliteRegistry
from functions.submit import submit_job
from runners.job import run_job
from tests.support.jobs import Deferred

LIMIT = 4


def test_grader_tokens_are_counted_apart_and_priced_at_the_grader_s_prices(home: Path, stub: str) -> None:
    from inspect_ai.log import read_eval_log

    settings = get_settings()
    registry = SqliteRegistry(settings.db_path)
    executor = Deferred()
    doc = {
        "project": "graded",
        "model": {
            "api": {
                "model": "vllm/stub",
                "base_url": stub,
                "pricing": {"input_per_mtok_usd": 1.0, "output_per_mtok_usd": 2.0},
            }
        },
        "grader": {
            "model": "vllm/stub",
            "base_url": stub,
            "pricing": {"input_per_mtok_usd": 10.0, "output_per_mtok_usd": 20.0},
        },
        "benchmarks": [{"id": "simpleqa", "args": {"scorer": "original"}}, "arc_easy"],
        "limit": LIMIT,
    }
    submit_job(doc, trigger=Trigger(kind="cli"), registry=registry, executor=executor, settings=settings)
    job_id = executor.ids[0]
    assert run_job(job_id, registry, settings) is JobStatus.SUCCEEDED
    job = registry.get(job_id)
    graded, plain = job.results
    assert graded.benchmark == "simpleqa" and graded.samples_completed == LIMIT

    log = read_eval_log(graded.log_path)
    per_sample_grader = sum(s.role_usage["grader"].input_tokens for s in log.samples or [])
    every_call = sum(u.input_tokens for u in log.stats.model_usage.values())
    assert graded.grader_input_tokens == per_sample_grader > 0
    assert graded.grader_output_tokens > 0
    assert graded.input_tokens == every_call - per_sample_grader > 0  # the model's own, once
    assert plain.grader_input_tokens == plain.grader_output_tokens == 0  # no grader in arc_easy

    acc = job.accounting
    assert acc is not None
    assert acc.grader_input_tokens == graded.grader_input_tokens
    assert acc.input_tokens == graded.input_tokens + plain.input_tokens
    assert acc.grader_cost_usd == pytest.approx(
        (graded.grader_input_tokens * 10.0 + graded.grader_output_tokens * 20.0) / 1e6
    )
    assert acc.cost_usd == pytest.approx((acc.input_tokens * 1.0 + acc.output_tokens * 2.0) / 1e6)
