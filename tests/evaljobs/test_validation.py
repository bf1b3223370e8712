from pathlib import Path
from typing import Any

import pytest

from evaljobs.errors import JobValidationError
from evaljobs.validation import load_document, validate_job
from tests.support.access import cli


def job(**overrides: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {"model": {"checkpoint": {"uri": "/models/x"}}, "benchmarks": ["arc_easy"]}
    doc.update(overrides)
    return doc


def issues(doc: dict[str, Any], env: dict[str, str] | None = None) -> dict[str, str]:
    with pytest.raises(JobValidationError) as info:
        validate_job(doc, cli(env))
    return {i.pointer: i.message for i in info.value.issues}


def test_valid_job_has_no_cap_on_benchmarks(home: Path) -> None:
    spec = validate_job(
        job(benchmarks=["arc_easy", "arc_challenge", "boolq", "piqa", "hellaswag", "gsm8k"]), cli()
    )
    assert len(spec.benchmarks) == 6
    assert spec.limit is None  # absent means all samples, never a silent default


def test_unknown_benchmark_names_its_pointer_and_the_fix(home: Path) -> None:
    found = issues(job(benchmarks=["arc_easy", "arc_eazy"]))
    assert "/benchmarks/1" in found
    assert "unknown benchmark 'arc_eazy'" in found["/benchmarks/1"]
    assert "arc_easy" in found["/benchmarks/1"]  # suggestion
    assert "evaljobs catalog" in found["/benchmarks/1"]


def test_benchmark_missing_from_installed_inspect_evals_is_reported(home: Path) -> None:
    found = issues(job(benchmarks=["ahb"]))
    assert "has no task 'ahb'" in found["/benchmarks/0"]


def test_missing_secret_is_reported_with_how_to_set_it(home: Path) -> None:
    doc = job(model={"api": {"model": "openai/gpt-4o-mini", "api_key": "secret://MY_KEY"}})
    found = issues(doc, env={})
    assert "export MY_KEY=" in found["/model/api/api_key"]
    assert validate_job(doc, cli({"MY_KEY": "sk-test"})).api is not None


def test_literal_secret_value_is_rejected(home: Path) -> None:
    found = issues(job(secrets={"hf_token": "hf_abcdef"}))
    assert "secret://NAME" in found["/secrets/hf_token"]


def test_judge_benchmark_needs_grader_or_scorer_key(home: Path) -> None:
    found = issues(job(benchmarks=["simpleqa"]))
    assert "grader" in found["/benchmarks/0"]
    ok = job(benchmarks=["simpleqa"], secrets={"scorer_api_key": "secret://OPENAI_API_KEY"})
    assert validate_job(ok, cli({"OPENAI_API_KEY": "sk"}))


def test_gated_dataset_needs_hf_token(home: Path) -> None:
    found = issues(job(benchmarks=["gpqa_diamond"]))
    assert "hf_token" in found["/benchmarks/0"]


def test_tool_benchmark_needs_tool_calling_on_a_checkpoint(home: Path) -> None:
    found = issues(job(benchmarks=["bfcl"]))
    assert "tool_calling: true" in found["/benchmarks/0"]
    on = job(
        benchmarks=["bfcl"],
        model={"checkpoint": {"uri": "/m", "tool_calling": True, "tool_call_parser": "hermes"}},
    )
    assert validate_job(on, cli({}))


def test_tool_calling_without_a_parser_is_refused_at_submit(home: Path) -> None:
    found = issues(job(model={"checkpoint": {"uri": "/m", "tool_calling": True}}))
    assert "needs the tool_call_parser" in found["/model/checkpoint/tool_call_parser"]


def test_tool_call_parser_vllm_does_not_know_is_refused_with_the_known_ones(home: Path) -> None:
    doc = job(model={"checkpoint": {"uri": "/m", "tool_calling": True, "tool_call_parser": "hermes2"}})
    message = issues(doc)["/model/checkpoint/tool_call_parser"]
    assert "no tool call parser 'hermes2'" in message and "hermes, " in message


def test_schema_errors_carry_pointers(home: Path) -> None:
    found = issues(job(limit=0, epochs="two", colour="red"))
    assert "/limit" in found
    assert "/epochs" in found
    assert "colour" in found[""] and "remove it" in found[""]


def test_model_must_be_checkpoint_or_api(home: Path) -> None:
    found = issues(job(model={"hf": "x"}))
    assert "checkpoint" in found["/model"] and "api" in found["/model"]


def test_duplicate_benchmark_rejected(home: Path) -> None:
    found = issues(job(benchmarks=["boolq", "boolq"]))
    assert any("twice" in m for m in found.values())


def test_malformed_yaml_names_the_line() -> None:
    with pytest.raises(JobValidationError) as info:
        load_document("model:\n  checkpoint: {uri: x\nbenchmarks: [a", "job.yaml")
    assert "job.yaml is not valid YAML" in str(info.value)
    assert "line" in str(info.value)


def test_non_mapping_document_rejected() -> None:
    with pytest.raises(JobValidationError, match="must be a mapping"):
        load_document("- just\n- a list\n")


def test_twenty_thousand_benchmarks_are_refused_at_the_list(home: Path) -> None:
    found = issues(job(benchmarks=[f"bench_{i}" for i in range(20_000)]))
    assert "/benchmarks" in found
    assert not any(p.startswith("/benchmarks/") for p in found)  # refused as a list, not id by id


@pytest.mark.parametrize(
    ("overrides", "pointer"),
    [
        ({"model": {"checkpoint": {"uri": "s3://b/" + "m" * 5000}}}, "/model/checkpoint/uri"),
        (
            {"model": {"checkpoint": {"uri": "/m", "served_name": "n" * 5000}}},
            "/model/checkpoint/served_name",
        ),
        (
            {"model": {"checkpoint": {"uri": "/m", "chat_template": "{{ x }}" * 20_000}}},
            "/model/checkpoint/chat_template",
        ),
        ({"model": {"api": {"model": "openai/" + "g" * 5000}}}, "/model/api/model"),
        (
            {"model": {"api": {"model": "openai/g", "base_url": "https://" + "h" * 5000}}},
            "/model/api/base_url",
        ),
        ({"model": {"api": {"model": "openai/g", "api_key": "secret://" + "K" * 500}}}, "/model/api/api_key"),
        ({"benchmarks": ["b" * 5000]}, "/benchmarks/0"),
        ({"benchmarks": [{"id": "b" * 5000}]}, "/benchmarks/0/id"),
        (
            {"benchmarks": [{"id": "arc_easy", "args": {f"k{i}": i for i in range(1000)}}]},
            "/benchmarks/0/args",
        ),
        ({"project": "p" * 5000}, "/project"),
    ],
)
def test_oversized_values_are_refused_where_they_are(
    home: Path, overrides: dict[str, Any], pointer: str
) -> None:
    found = issues(job(**overrides), env={"K" * 500: "k"})
    # the pointer itself, or the union above it (problems inside `model` are reported at /model)
    assert any(pointer == p or pointer.startswith(p + "/") for p in found), found.keys()
    assert not any(m.startswith("unknown benchmark") for m in found.values())  # refused by size


def test_benchmark_args_are_bounded_in_total_size(home: Path) -> None:
    big = {"id": "arc_easy", "args": {"prompt": "p" * 20_000}}
    found = issues(job(benchmarks=[big]))
    [message] = [m for p, m in found.items() if p.startswith("/benchmarks/0") and p.endswith("/args")]
    assert "16 KiB" in message and len(message) < 300  # says the bound, never echoes the value
    assert validate_job(job(benchmarks=[{**big, "args": {"prompt": "p" * 1000}}]), cli({}))


@pytest.mark.parametrize(
    "doc",
    [
        {"name": "x" * 1_000_000},
        {"benchmarks": ["arc_easy"] * 20_000},
        {"benchmarks": [{"id": "arc_easy", "args": {f"k{i}": i for i in range(100_000)}}]},
        {"model": {"checkpoint": {"uri": "/m", "dtype": "q" * 100_000}}},
        {"unexpected_" + "y" * 100_000: 1},
        {"project": "z" * 100_000 + " not a slug"},
    ],
)
def test_a_huge_bad_value_is_quoted_by_a_short_prefix_at_most(doc: dict[str, object]) -> None:
    base = {"model": {"checkpoint": {"uri": "/m"}}, "benchmarks": ["arc_easy"]}
    with pytest.raises(JobValidationError) as caught:
        validate_job({**base, **doc})
    assert caught.value.issues and all(len(issue.message) < 300 for issue in caught.value.issues)
