"""What a job used and roughly what it cost: tokens, wall time, model-server time, dollars.

A checkpoint is served by one vLLM server for the whole job, and its benchmarks run against
it concurrently, so the server's time cannot be split by the clock; each benchmark is
charged a share of it in proportion to the tokens it processed (prompt + completion). The
cost of a served checkpoint is server time × the server's hourly rate; the cost of a hosted
API is tokens × the per-million-token prices the job states (prices change and differ by
contract, so none are built in: without them the cost is unknown, not zero).

A model-graded benchmark also spends the grader's tokens (inspect-ai's `role_usage`); they are
counted apart from the model's (they run elsewhere and are not the model's server time) and
priced at the job's `grader.pricing` when it has one.
"""

from __future__ import annotations

from evaljobs.records import Accounting, BenchmarkResult, Rates
from evaljobs.settings import Settings
from evaljobs.spec import JobSpec

__all__ = ["account", "rates_for"]


def rates_for(spec: JobSpec, settings: Settings) -> Rates:
    """The job's prices: its API pricing, or the server's hourly rate from the settings; and
    the grader's, when the job prices it."""
    rates = _model_rates(spec, settings)
    grader = spec.grader.pricing if spec.grader else None
    if grader is None:
        return rates
    return rates.model_copy(
        update={
            "grader_input_per_mtok_usd": grader.input_per_mtok_usd,
            "grader_output_per_mtok_usd": grader.output_per_mtok_usd,
            "basis": f"{rates.basis}; grader: grader.pricing of the job",
        }
    )


def _model_rates(spec: JobSpec, settings: Settings) -> Rates:
    if spec.api is not None:
        pricing = spec.api.pricing
        if pricing is None:
            return Rates(basis="no pricing in the job (model.api.pricing); cost unknown")
        return Rates(
            input_per_mtok_usd=pricing.input_per_mtok_usd,
            output_per_mtok_usd=pricing.output_per_mtok_usd,
            basis="model.api.pricing of the job",
        )
    if settings.server_hour_usd is not None:
        return Rates(server_hour_usd=settings.server_hour_usd, basis="EVALJOBS_SERVER_HOUR_USD")
    if settings.gpu_count == 0:
        return Rates(server_hour_usd=0.0, basis="local CPU server (no GPU charge)")
    return Rates(
        server_hour_usd=settings.gpu_count * settings.gpu_hour_usd,
        basis=f"{settings.gpu_count} GPU × EVALJOBS_GPU_HOUR_USD {settings.gpu_hour_usd}",
    )


def _cost(rates: Rates, server_s: float | None, input_tokens: int, output_tokens: int) -> float | None:
    """Server time at the hourly rate for a served checkpoint, tokens at their prices for an API."""
    if server_s is not None:
        return None if rates.server_hour_usd is None else server_s * rates.server_hour_usd / 3600
    return _token_cost(rates.input_per_mtok_usd, rates.output_per_mtok_usd, input_tokens, output_tokens)


def _grader_cost(rates: Rates, input_tokens: int, output_tokens: int) -> float | None:
    """The grader's tokens at its prices; None without prices or without grader tokens."""
    if not input_tokens and not output_tokens:
        return None
    return _token_cost(
        rates.grader_input_per_mtok_usd, rates.grader_output_per_mtok_usd, input_tokens, output_tokens
    )


def _token_cost(
    input_per_mtok: float | None, output_per_mtok: float | None, input_tokens: int, output_tokens: int
) -> float | None:
    """Tokens at per-million prices; None when either price is unknown."""
    if input_per_mtok is None or output_per_mtok is None:
        return None
    return (input_tokens * input_per_mtok + output_tokens * output_per_mtok) / 1e6


def account(
    results: list[BenchmarkResult],
    rates: Rates,
    *,
    wall_time_s: float | None,
    model_server_s: float | None,
    model_server_startup_s: float | None = None,
) -> tuple[list[BenchmarkResult], Accounting]:
    """Each benchmark with its share of server time and cost, and the job's totals."""
    input_tokens = sum(r.input_tokens for r in results)
    output_tokens = sum(r.output_tokens for r in results)
    total_tokens = input_tokens + output_tokens
    charged: list[BenchmarkResult] = []
    for result in results:
        server_s = None
        if model_server_s is not None:
            used = result.input_tokens + result.output_tokens
            server_s = model_server_s * (used / total_tokens if total_tokens else 1 / len(results))
        cost = _cost(rates, server_s, result.input_tokens, result.output_tokens)
        grader = _grader_cost(rates, result.grader_input_tokens, result.grader_output_tokens)
        update = {"model_server_s": server_s, "cost_usd": cost, "grader_cost_usd": grader}
        charged.append(result.model_copy(update=update))
    grader_in = sum(r.grader_input_tokens for r in results)
    grader_out = sum(r.grader_output_tokens for r in results)
    totals = Accounting(
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        wall_time_s=wall_time_s,
        model_server_s=model_server_s,
        model_server_startup_s=model_server_startup_s,
        cost_usd=_cost(rates, model_server_s, input_tokens, output_tokens),
        rates=rates,
        grader_input_tokens=grader_in,
        grader_output_tokens=grader_out,
        grader_cost_usd=_grader_cost(rates, grader_in, grader_out),
    )
    return charged, totals
