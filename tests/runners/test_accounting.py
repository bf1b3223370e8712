"""Cost and time accounting: shares by tokens, rates from the job or the settings."""

from __future__ import annotations

import pytest

from evaljobs.records import BenchmarkResult, Rates
from evaljobs.settings import Settings
from evaljobs.spec import JobSpec
from runners.accounting import account, rates_for


def _result(benchmark: str, tokens_in: int, tokens_out: int) -> BenchmarkResult:
    return BenchmarkResult(
        benchmark=benchmark,
        task=benchmark,
        status="success",
        input_tokens=tokens_in,
        output_tokens=tokens_out,
    )


def test_server_time_and_cost_are_shared_by_tokens() -> None:
    results = [_result("arc_easy", 3000, 0), _result("piqa", 1000, 0)]
    rates = Rates(server_hour_usd=7.90, basis="test")
    charged, totals = account(
        results, rates, wall_time_s=500.0, model_server_s=360.0, model_server_startup_s=60.0
    )
    assert [r.model_server_s for r in charged] == pytest.approx([270.0, 90.0])
    assert [r.cost_usd for r in charged] == pytest.approx([270 * 7.90 / 3600, 90 * 7.90 / 3600])
    assert totals.cost_usd == pytest.approx(360 * 7.90 / 3600)
    assert sum(r.cost_usd or 0 for r in charged) == pytest.approx(totals.cost_usd)
    assert (totals.input_tokens, totals.output_tokens) == (4000, 0)
    assert totals.model_server_startup_s == 60.0


def test_api_cost_from_token_prices_and_unknown_without_them() -> None:
    results = [_result("gsm8k", 2_000_000, 500_000)]
    priced = Rates(input_per_mtok_usd=0.15, output_per_mtok_usd=0.60, basis="job")
    charged, totals = account(results, priced, wall_time_s=10.0, model_server_s=None)
    assert charged[0].cost_usd == pytest.approx(2 * 0.15 + 0.5 * 0.60)
    assert charged[0].model_server_s is None
    assert totals.cost_usd == pytest.approx(0.6)

    _, unknown = account(results, Rates(basis="none"), wall_time_s=10.0, model_server_s=None)
    assert unknown.cost_usd is None  # unknown is not zero


def _spec(model: dict) -> JobSpec:
    return JobSpec.model_validate({"model": model, "benchmarks": ["arc_easy"], "project": "p"})


def test_rates_come_from_the_job_or_the_settings() -> None:
    api = _spec(
        {
            "api": {
                "model": "openai/gpt-4o-mini",
                "pricing": {"input_per_mtok_usd": 0.15, "output_per_mtok_usd": 0.6},
            }
        }
    )
    assert rates_for(api, Settings()).input_per_mtok_usd == 0.15
    assert rates_for(_spec({"api": {"model": "openai/gpt-4o-mini"}}), Settings()).input_per_mtok_usd is None

    checkpoint = _spec({"checkpoint": {"uri": "/models/x"}})
    assert rates_for(checkpoint, Settings(gpu_count=0)).server_hour_usd == 0.0
    assert rates_for(checkpoint, Settings(gpu_count=2, gpu_hour_usd=4.0)).server_hour_usd == 8.0
    assert rates_for(checkpoint, Settings(gpu_count=2, server_hour_usd=5.0)).server_hour_usd == 5.0
