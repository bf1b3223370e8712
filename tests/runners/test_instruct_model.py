"""The embedded instruct model (SmolLM2 135M Instruct) on a vLLM CPU server of its own: a real
chat model on the real paths — its chat template served, generation-scored and model-graded
benchmarks, a local grader, and the hosted-API path with a key from the secret store.

A 135M model answers badly; the tests check that the path is right (templates, stop tokens,
keys, accounting), not its scores.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from evaljobs.records import JobStatus, Trigger
from evaljobs.settings import get_settings
from evaljobs.stores import open_secret_store
from evaljobs.stores.sqlite_registry import SqliteRegistry
from functions.submit import submit_job
from runners.embedded_model import INSTRUCT_MODEL_NAME
from runners.job import run_job
from runners.vllm_server import API_KEY, ServerInfo

pytestmark = pytest.mark.vllm
LIMIT = 3


def test_a_chat_prompt_round_trips_through_the_chat_endpoint(
    instruct_server: ServerInfo, instruct_model: Path
) -> None:
    from runners.serving import embedded_server_options

    options = embedded_server_options(instruct_model, name=INSTRUCT_MODEL_NAME)
    assert options.chat_template is None and not options.tool_calling  # its own template, no tools
    from transformers import AutoTokenizer

    messages = [{"role": "user", "content": "What is the capital of France? Answer in one word."}]
    answer = httpx.post(
        f"{instruct_server.base_url}/chat/completions",
        headers={"Authorization": f"Bearer {API_KEY}"},
        json={"model": instruct_server.model, "messages": messages, "temperature": 0, "max_tokens": 40},
        timeout=120,
    ).json()
    choice = answer["choices"][0]
    assert "Paris" in choice["message"]["content"]
    assert choice["finish_reason"] == "stop"  # it ended its turn on <|im_end|>, not at max_tokens
    # the server applied the checkpoint's template (with SmolLM2's default system turn), no BOS added
    tokenizer = AutoTokenizer.from_pretrained(str(instruct_model))
    prompt = tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    assert answer["usage"]["prompt_tokens"] == len(tokenizer(prompt)["input_ids"])


def _run(doc: dict[str, Any]) -> Any:
    settings = get_settings()
    registry = SqliteRegistry(settings.db_path)
    trigger = Trigger(kind="cli")
    record = submit_job(doc, trigger=trigger, registry=registry, executor=_Later(), settings=settings)
    assert run_job(record.id, registry, settings) is JobStatus.SUCCEEDED, registry.get(record.id).error
    return registry.get(record.id)


class _Later:
    def dispatch(self, job_id: str) -> None:  # the test runs the job itself
        pass


def test_generation_and_model_graded_benchmarks_on_the_hosted_path_with_a_local_grader(
    home: Path, instruct_server: ServerInfo
) -> None:
    from inspect_ai.log import read_eval_log

    open_secret_store(get_settings()).put_secret("local", "SMOL_KEY", API_KEY)
    endpoint = {"base_url": instruct_server.base_url, "api_key": "secret://SMOL_KEY"}
    job = _run(
        {
            "project": "instruct",
            "model": {"api": {"model": f"openai-api/local/{instruct_server.model}", **endpoint}},
            "grader": {"model": f"openai-api/grader/{instruct_server.model}", **endpoint},
            "benchmarks": [  # every generation-scored benchmark the offline mirror holds
                {"id": "gsm8k", "args": {"fewshot": 0}},  # the number at the end of the answer
                "mgsm",
                "squad",  # F1 against the reference answers
                "pubmedqa",
                "medqa",
                {"id": "commonsense_qa", "scoring": "generate"},  # the model answers the letter itself
                {"id": "arc_easy", "scoring": "generate"},
                {"id": "simpleqa", "args": {"scorer": "original"}},  # model-graded: A/B/C from the grader
            ],
            "limit": LIMIT,
            "generation": {"temperature": 0, "max_tokens": 160},
        }
    )
    by_id = {r.benchmark: r for r in job.results}
    for result in job.results:
        assert result.status == "success" and result.samples_completed == LIMIT, result
        assert result.scoring == "generate" and result.input_tokens > 0 and result.output_tokens > 0
    # a real chat model wrote real answers, and they ended on its own turn end
    gsm8k = read_eval_log(by_id["gsm8k"].log_path)
    outputs = [s.output for s in gsm8k.samples or []]
    assert all(o.completion.strip() for o in outputs)
    assert any(o.stop_reason == "stop" for o in outputs)
    # the grader was the local endpoint, named as the job's grader; its tokens are counted apart
    graded = read_eval_log(by_id["simpleqa"].log_path)
    events = [e for s in graded.samples or [] for e in s.events if e.event == "model"]
    grader_calls = [e for e in events if e.role == "grader"]
    assert len(grader_calls) == LIMIT and all(e.model.endswith(instruct_server.model) for e in grader_calls)
    assert by_id["simpleqa"].grader_input_tokens > 0 and by_id["simpleqa"].grader_output_tokens > 0
    assert by_id["gsm8k"].grader_input_tokens == 0
    assert job.accounting.grader_input_tokens == by_id["simpleqa"].grader_input_tokens
