from pathlib import Path
from typing import Any

import pytest

from evaljobs.errors import JobValidationError
from evaljobs.spec import JobSpec
from evaljobs.validation import validate_job
from runners.evaluate import resolve_scoring
from tests.support.access import cli


def spec(**doc: Any) -> JobSpec:
    base: dict[str, Any] = {"model": {"checkpoint": {"uri": "/m"}}, "benchmarks": ["arc_easy", "gsm8k"]}
    return JobSpec.model_validate({**base, **doc})


def test_auto_uses_loglikelihood_for_base_checkpoints_where_supported() -> None:
    assert resolve_scoring(spec(), has_chat_template=False) == {
        "arc_easy": "loglikelihood",
        "gsm8k": "generate",
    }
    assert resolve_scoring(spec(), has_chat_template=True) == {"arc_easy": "generate", "gsm8k": "generate"}


def test_explicit_modes_win() -> None:
    doc = spec(scoring="generate", benchmarks=[{"id": "arc_easy", "scoring": "loglikelihood"}, "boolq"])
    assert resolve_scoring(doc, has_chat_template=False) == {"arc_easy": "loglikelihood", "boolq": "generate"}


def test_loglikelihood_on_unsupported_benchmark_is_rejected(home: Path) -> None:
    with pytest.raises(JobValidationError, match="gsm8k has no loglikelihood scoring"):
        validate_job(
            {
                "model": {"checkpoint": {"uri": "/m"}},
                "benchmarks": ["arc_easy", "gsm8k"],
                "scoring": "loglikelihood",
            },
            cli(),
        )


def test_hosted_api_without_prompt_logprobs_is_rejected(home: Path) -> None:
    doc = {
        "model": {"api": {"model": "openai/gpt-4o-mini"}},
        "benchmarks": [{"id": "arc_easy", "scoring": "loglikelihood"}],
    }
    with pytest.raises(JobValidationError, match="cannot return prompt log-probabilities"):
        validate_job(doc, cli({}))
    ok = {
        "model": {"api": {"model": "vllm/my-model", "base_url": "http://127.0.0.1:8000/v1"}},
        "benchmarks": [{"id": "arc_easy", "scoring": "loglikelihood"}],
    }
    assert validate_job(ok, cli({}))
