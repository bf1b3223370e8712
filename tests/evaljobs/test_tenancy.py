"""What a tenant's job may name: models of its entity, granted buckets, folders under the
operator's roots; the operator's CLI may name any model but never a metadata address."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from evaljobs.errors import JobValidationError
from evaljobs.settings import Settings
from evaljobs.tenancy import Access, ModelSource, entity_grants, model_source
from evaljobs.validation import validate_job


def job(uri: str, entity: str = "team-a") -> dict[str, Any]:
    return {"entity": entity, "model": {"checkpoint": {"uri": uri}}, "benchmarks": ["boolq"]}


def problems(doc: dict[str, Any], access: Access) -> dict[str, str]:
    try:
        validate_job(doc, access)
    except JobValidationError as exc:
        return {i.pointer: i.message for i in exc.issues}
    return {}


def test_model_sources_are_told_by_form_alone() -> None:
    assert model_source("s3://bucket-a/models/x") == ModelSource("s3", "bucket-a")
    assert model_source("team-b/pretrain/gemma:v3") == ModelSource("wandb", "team-b")
    assert model_source("wandb-artifact://team-b/p/m:latest") == ModelSource("wandb", "team-b")
    assert model_source("file:///srv/models/x") == ModelSource("local", "/srv/models/x")
    assert entity_grants("team-a:one,*:shared,team-b:two", "team-a") == ["one", "shared"]


def test_a_tenant_reaches_its_own_models_only(tmp_path: Path) -> None:
    roots = tmp_path / "models"
    (roots / "ok").mkdir(parents=True)
    settings = Settings(
        home=tmp_path, local_model_roots=str(roots), s3_buckets="team-a:bucket-a,*:public", model_entities=""
    )
    tenant = Access(settings=settings)
    pointer = "/model/checkpoint/uri"
    assert pointer in problems(job("team-b/pretrain/gemma:v3"), tenant)
    assert pointer not in problems(job("team-a/pretrain/gemma:v3"), tenant)
    assert pointer in problems(job("s3://bucket-b/ckpt"), tenant)
    assert pointer not in problems(job("s3://bucket-a/ckpt"), tenant)
    assert pointer not in problems(job("s3://public/ckpt"), tenant)
    for outside in ("/etc", str(roots / ".." / "elsewhere"), str(tmp_path), "relative/path"):
        assert "model roots" in problems(job(outside), tenant).get(pointer, ""), outside
    # the same answer for a folder that exists and one that does not: nothing is probed
    assert problems(job("/etc"), tenant) == problems(job("/no/such/folder"), tenant)


def test_a_symlink_out_of_a_root_is_refused(tmp_path: Path) -> None:
    roots = tmp_path / "models"
    roots.mkdir()
    (roots / "escape").symlink_to("/etc")
    tenant = Access(settings=Settings(home=tmp_path, local_model_roots=str(roots)))
    assert "model roots" in problems(job(str(roots / "escape")), tenant)["/model/checkpoint/uri"]


def test_other_entities_artifacts_by_operator_grant(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path, model_entities="team-a:shared-models")
    tenant = Access(settings=settings)
    assert "/model/checkpoint/uri" not in problems(job("shared-models/p/m:v1"), tenant)
    assert "/model/checkpoint/uri" in problems(job("shared-models/p/m:v1", entity="team-b"), tenant)


@pytest.mark.parametrize("uri", ["team-b/p/m:v1", "s3://anything/x"])
def test_the_operator_cli_names_any_model(tmp_path: Path, uri: str) -> None:
    operator = Access(settings=Settings(home=tmp_path), operator=True)
    assert "/model/checkpoint/uri" not in problems(job(uri), operator)


def test_urls_for_tenants_and_the_operator(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path, allowed_hosts="api.openai.com", allow_loopback=False)

    def api(url: str) -> dict[str, Any]:
        return {
            "entity": "team-a",
            "model": {"api": {"model": "openai/m", "base_url": url}},
            "benchmarks": ["boolq"],
        }

    tenant, operator = Access(settings=settings), Access(settings=settings, operator=True)
    assert "/model/api/base_url" in problems(api("http://attacker.example/v1"), tenant)
    assert "/model/api/base_url" not in problems(api("https://api.openai.com/v1"), tenant)
    assert "/model/api/base_url" not in problems(api("http://attacker.example/v1"), operator)
    metadata = api("http://169.254.169.254/latest/meta-data/")
    assert "never reachable" in problems(metadata, tenant)["/model/api/base_url"]
    assert "never reachable" in problems(metadata, operator)["/model/api/base_url"]
