"""Policies: the YAML file, event matching, and the job each event or tick starts."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from evaljobs.errors import ConfigError
from evaljobs.policies import ArtifactEvent, Policy, load_policy_file

FILE = """
policies:
  - name: new-versions
    entity: acme
    match:
      project: llm-*
      collection: [gemma-*, llama-*]
      event_type: CREATE_ARTIFACT
    job:
      benchmarks: [arc_easy]
      limit: 100
      model: {checkpoint: {max_model_len: 4096}}
  - name: production-alias
    entity: acme
    match: {alias: production, event_type: ADD_ARTIFACT_ALIAS}
    job: {benchmarks: [mmlu_0_shot], project: release-gate}
  - name: nightly
    entity: acme
    schedule: "30 1 * * *"
    job:
      model: {checkpoint: {uri: acme/llm-train/gemma-270m:production}}
      benchmarks: [hellaswag]
"""


def event(**fields: str) -> ArtifactEvent:
    base = {
        "event_type": "CREATE_ARTIFACT",
        "artifact_version_string": "acme/llm-train/gemma-270m:v7",
        "artifact_collection_name": "gemma-270m",
        "project_name": "llm-train",
        "entity_name": "acme",
    }
    return ArtifactEvent.model_validate(base | fields)


@pytest.fixture
def policies(tmp_path: Path) -> dict[str, object]:
    path = tmp_path / "policies.yaml"
    path.write_text(FILE)
    return {p.name: p for p in load_policy_file(path)}


def test_the_file_loads_with_globs_and_single_values_as_lists(policies: dict) -> None:
    assert set(policies) == {"new-versions", "production-alias", "nightly"}
    assert policies["new-versions"].match.collection == ["gemma-*", "llama-*"]
    assert policies["nightly"].schedule == "30 1 * * *" and policies["nightly"].match is None


def test_matching(policies: dict) -> None:
    new, prod = policies["new-versions"].match, policies["production-alias"].match
    assert new.matches(event())
    assert not new.matches(event(project_name="other"))
    assert not new.matches(event(artifact_collection_name="tokenizer"))
    assert not new.matches(event(event_type="ADD_ARTIFACT_ALIAS", alias="production"))
    assert prod.matches(event(event_type="ADD_ARTIFACT_ALIAS", alias="production"))
    assert not prod.matches(event(event_type="ADD_ARTIFACT_ALIAS", alias="staging"))
    assert not prod.matches(event(event_type="ADD_ARTIFACT_ALIAS", alias="${alias}"))  # unfilled template


def test_jobs_from_events_and_ticks(policies: dict) -> None:
    doc = policies["new-versions"].job_for_event(event())
    assert doc["model"] == {"checkpoint": {"max_model_len": 4096, "uri": "acme/llm-train/gemma-270m:v7"}}
    assert (doc["entity"], doc["project"], doc["limit"]) == ("acme", "llm-train", 100)
    assert policies["production-alias"].job_for_event(event())["project"] == "release-gate"
    assert policies["nightly"].job_for_tick()["entity"] == "acme"


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("policies:\n  - {name: a, entity: e, job: {}}", "exactly one of"),
        ("policies:\n  - {name: a, entity: e, schedule: '0 2 * * *', match: {}, job: {}}", "exactly one of"),
        (
            "policies:\n  - {name: a, entity: e, schedule: 'nightly', job: {model: {}}}",
            "not a cron expression",
        ),
        ("policies:\n  - {name: a, entity: e, schedule: '0 2 * * *', job: {}}", "must name the model"),
        ("policies:\n  - {name: a, entity: e, match: {}, job: {entity: x}}", "policy's entity"),
        ("policies:\n  - {name: a, entity: e, match: {}}\n  - {name: a, entity: e, match: {}}", "used twice"),
        ("jobs: []", "top-level `policies:`"),
        ("policies: [", "cannot read"),
    ],
)
def test_bad_files_say_what_to_fix(tmp_path: Path, text: str, needle: str) -> None:
    path = tmp_path / "p.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=needle):
        load_policy_file(path)


@pytest.mark.parametrize(
    ("schedule", "needle"),
    [
        ("0 0 30 2 *", "never fires"),  # 30 February: croniter calls it valid, but it has no fire time
        ("0 0 31 4,6 *", "never fires"),
        ("0 0 1 1 * 0 2020", "never fires"),  # a year field that has passed
        ("R 2 * * *", "random"),  # re-drawn on every read: would fire at a new minute each poll
    ],
)
def test_a_schedule_that_never_fires_is_refused_at_save(tmp_path: Path, schedule: str, needle: str) -> None:
    doc = {"name": "a", "entity": "e", "schedule": schedule, "job": {"model": {}}}
    with pytest.raises(ValidationError) as info:
        Policy.model_validate(doc)
    [error] = info.value.errors()
    assert error["loc"] == ("schedule",) and needle in error["msg"]
    path = tmp_path / "p.yaml"
    path.write_text(f"policies:\n  - {{name: a, entity: e, schedule: '{schedule}', job: {{model: {{}}}}}}")
    with pytest.raises(ConfigError, match=f"(?s)schedule.*{needle}"):
        load_policy_file(path)


def test_a_stored_schedule_is_read_back_even_when_it_no_longer_fires() -> None:
    """Whether a schedule fires depends on the clock, so a stored row is not refused on read
    (one such row would make every policy unreadable); the scheduler isolates it instead."""
    stored = '{"name": "old", "entity": "e", "schedule": "0 0 30 2 *", "job": {"model": {}}}'
    assert Policy.model_validate_json(stored).schedule == "0 0 30 2 *"


def test_good_schedules_still_load() -> None:
    for schedule in ("0 2 * * *", "0 0 29 2 *", "*/15 * * * MON-FRI", "0 0 L * *", "@daily"):
        doc = {"name": "a", "entity": "e", "schedule": schedule, "job": {"model": {}}}
        assert Policy.model_validate(doc).schedule == schedule
