"""Job validation: parse (YAML/JSON), JSON Schema, then semantics.

Every problem is a `ValidationIssue` with the JSON pointer of the offending value and a
message that says what to fix. All problems are reported at once, not the first only.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from jsonschema import Draft202012Validator, validators
from jsonschema.exceptions import ValidationError as SchemaError

from evaljobs.catalog import CatalogEntry, get_catalog
from evaljobs.errors import JobValidationError, ValidationIssue, issues_from_pydantic, json_pointer
from evaljobs.spec import JobSpec
from evaljobs.tenancy import Access, access_issues
from evaljobs.tool_parsers import TOOL_CALL_PARSERS

__all__ = ["generate_schema", "load_document", "parse_job", "semantic_issues", "validate_job"]

SCHEMA_FILE = "eval-job.schema.json"


def generate_schema() -> dict[str, Any]:
    """The JSON Schema of a job, generated from the pydantic models."""
    schema = JobSpec.model_json_schema(mode="validation")
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", **schema}


def schema_path() -> Path:
    """The committed schema file (schemas/ at the repository root, shipped in the wheel)."""
    return Path(str(resources.files("schemas").joinpath(SCHEMA_FILE)))


def _short(value: Any) -> str:
    """At most a short prefix of a tenant's value, for an error message."""
    text = repr(value) if isinstance(value, str) else type(value).__name__
    return text if len(text) <= 40 else f"{text[:37]}…'"


def _too_long(kind: str, size: Callable[[Any], int]) -> Callable[..., Iterator[SchemaError]]:
    def check(validator: Any, limit: int, instance: Any, schema: dict[str, Any]) -> Iterator[SchemaError]:
        if validator.is_type(instance, kind) and size(instance) > limit:
            unit = {"string": "characters", "array": "items", "object": "keys"}[kind]
            yield SchemaError(f"has {size(instance)} {unit}; at most {limit} are allowed")

    return check


def _pattern(validator: Any, pattern: str, instance: Any, schema: dict[str, Any]) -> Iterator[SchemaError]:
    if validator.is_type(instance, "string") and not re.search(pattern, instance):
        yield SchemaError(f"{_short(instance)} does not match {pattern}")


def _type(validator: Any, types: Any, instance: Any, schema: dict[str, Any]) -> Iterator[SchemaError]:
    wanted = [types] if isinstance(types, str) else list(types)
    if not any(validator.is_type(instance, t) for t in wanted):
        yield SchemaError(f"{_short(instance)} is not of type {' or '.join(wanted)}")


def _additional(validator: Any, allowed: Any, instance: Any, schema: dict[str, Any]) -> Iterator[SchemaError]:
    if not validator.is_type(instance, "object"):
        return
    known = set(schema.get("properties", {}))
    extras = [key for key in instance if key not in known]
    if isinstance(allowed, dict):
        for key in extras:
            yield from validator.descend(instance[key], allowed, path=key)
    elif allowed is False and extras:
        named = ", ".join(_short(key) for key in extras[:5]) + (
            f" and {len(extras) - 5} more" if len(extras) > 5 else ""
        )
        yield SchemaError(f"unexpected field(s): {named}")


_JobValidator = validators.extend(
    Draft202012Validator,
    {
        # the stock checks quote the whole offending value; a tenant's value may be megabytes
        "maxLength": _too_long("string", len),
        "maxItems": _too_long("array", len),
        "maxProperties": _too_long("object", len),
        "pattern": _pattern,
        "type": _type,
        "additionalProperties": _additional,
    },
)


@lru_cache(maxsize=1)
def _validator() -> Any:
    return _JobValidator(json.loads(schema_path().read_text()))


def load_document(text: str, source: str = "<job>") -> dict[str, Any]:
    """Parse YAML or JSON text into a mapping, or JobValidationError saying where it broke."""
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise JobValidationError(
            [ValidationIssue("", f"{source} is not valid YAML/JSON{where}: {problem}")]
        ) from exc
    if not isinstance(doc, dict):
        raise JobValidationError(
            [
                ValidationIssue(
                    "", f"{source} must be a mapping with model and benchmarks, not {type(doc).__name__}"
                )
            ]
        )
    return doc


def _leaves(error: SchemaError) -> list[SchemaError]:
    if not error.context:
        return [error]
    return [leaf for sub in error.context for leaf in _leaves(sub)]


def _schema_message(error: SchemaError) -> str:
    leaves = _leaves(error)
    if any(e.validator == "pattern" and "secret://" in str(e.validator_value) for e in leaves):
        # Never echo the value: it may be the secret itself.
        return "must be a secret reference like secret://NAME, never the value itself"
    if error.validator == "additionalProperties":
        return f"{error.message}; remove it or check its spelling"
    if error.validator == "required":
        return f"{error.message}; add it"
    if error.validator in ("anyOf", "oneOf") and error.context:
        if json_pointer(error.absolute_path) == "/model":
            return "model must be either {checkpoint: {uri: …}} or {api: {model: …}}"
        best = min(error.context, key=lambda e: len(list(e.absolute_path)))
        return str(best.message)
    return str(error.message)


def schema_issues(doc: dict[str, Any]) -> list[ValidationIssue]:
    """Problems the committed JSON Schema finds."""
    errors = sorted(_validator().iter_errors(doc), key=lambda e: list(map(str, e.absolute_path)))
    return [ValidationIssue(json_pointer(e.absolute_path), _schema_message(e)) for e in errors]


LOGPROB_PROVIDERS = ("vllm/", "openai-api/vllm/")
"""Hosted-API forms whose server returns prompt log-probabilities (vLLM's completions echo)."""


def _scoring_issues(
    spec: JobSpec, index: int, entry: CatalogEntry, requested: str | None
) -> list[ValidationIssue]:
    if requested != "loglikelihood":
        return []
    where = f"/benchmarks/{index}"
    if not entry.loglikelihood:
        supported = ", ".join(sorted(k for k, e in get_catalog().items() if e.loglikelihood))
        return [
            ValidationIssue(
                where,
                f"{entry.id} has no loglikelihood scoring (supported: {supported}); "
                "set scoring: generate for it",
            )
        ]
    if spec.api and not spec.api.model.startswith(LOGPROB_PROVIDERS):
        return [
            ValidationIssue(
                where,
                f"{spec.api.model} cannot return prompt log-probabilities, "
                "which loglikelihood scoring needs; "
                "use scoring: generate, or serve the model with vLLM (model: vllm/NAME with base_url)",
            )
        ]
    return []


def _requirement_issues(spec: JobSpec, index: int, entry: CatalogEntry) -> list[ValidationIssue]:
    issues = []
    where = f"/benchmarks/{index}"
    req = entry.requires
    if req.judge and spec.grader is None and spec.secrets.scorer_api_key is None:
        issues.append(
            ValidationIssue(
                where,
                f"{entry.id} is graded by a model: set grader: {{model: …}} or "
                "secrets.scorer_api_key: secret://OPENAI_API_KEY",
            )
        )
    if req.gated and spec.secrets.hf_token is None:
        issues.append(
            ValidationIssue(
                where,
                f"{entry.id} reads a gated Hugging Face dataset: set secrets.hf_token: secret://HF_TOKEN",
            )
        )
    ckpt = spec.checkpoint
    if req.tools and ckpt is not None and not ckpt.tool_calling:
        issues.append(
            ValidationIssue(
                where,
                f"{entry.id} needs tool calling: set model.checkpoint.tool_calling: true "
                "(and a tool_call_parser for the model)",
            )
        )
    if req.sandbox:
        issues.append(
            ValidationIssue(
                where, f"{entry.id} needs a sandbox ({', '.join(req.sandbox)}), which runners do not provide"
            )
        )
    return issues


def _tool_parser_issues(spec: JobSpec) -> list[ValidationIssue]:
    """vLLM refuses `--enable-auto-tool-choice` without a parser it knows: say so before GPUs are rented."""
    ckpt = spec.checkpoint
    if ckpt is None or not ckpt.tool_calling:
        return []
    where = "/model/checkpoint/tool_call_parser"
    if ckpt.tool_call_parser is None:
        return [
            ValidationIssue(
                where,
                "tool_calling: true needs the tool_call_parser of the model's tool-call format "
                "(e.g. hermes for Qwen and Hermes models, llama3_json for Llama 3.1+, mistral for Mistral)",
            )
        ]
    if ckpt.tool_call_parser not in TOOL_CALL_PARSERS:
        return [
            ValidationIssue(
                where,
                f"vLLM has no tool call parser {_short(ckpt.tool_call_parser)}; "
                f"use one of {', '.join(sorted(TOOL_CALL_PARSERS))}",
            )
        ]
    return []


def semantic_issues(spec: JobSpec, access: Access) -> list[ValidationIssue]:
    """Problems beyond the schema: catalog ids, requirements, and what the job may not reach."""
    catalog = get_catalog()
    issues: list[ValidationIssue] = []
    for index, bench in enumerate(spec.benchmark_refs()):
        entry = catalog.get(bench.id)
        if entry is None:
            close = sorted(k for k in catalog if k.startswith(bench.id[:3]))[:5]
            hint = f" (did you mean {', '.join(close)}?)" if close else ""
            issues.append(
                ValidationIssue(
                    f"/benchmarks/{index}",
                    f"unknown benchmark {bench.id!r}{hint}; `evaljobs catalog` lists them",
                )
            )
            continue
        if not entry.available:
            issues.append(ValidationIssue(f"/benchmarks/{index}", f"{bench.id} cannot run: {entry.reason}"))
            continue
        issues.extend(_requirement_issues(spec, index, entry))
        requested = bench.scoring or (spec.scoring if spec.scoring != "auto" else None)
        issues.extend(_scoring_issues(spec, index, entry, requested))
    issues.extend(_tool_parser_issues(spec))
    if spec.shards and spec.shards > access.settings.max_shards:
        issues.append(
            ValidationIssue(
                "/shards",
                f"{spec.shards} shards is more than this deployment runs for one job"
                f" ({access.settings.max_shards}); ask for at most that many",
            )
        )
    issues.extend(access_issues(spec, access))
    return issues


def parse_job(doc: dict[str, Any]) -> JobSpec:
    """Schema-check and parse a document into a JobSpec (no semantic checks)."""
    issues = schema_issues(doc)
    if issues:
        raise JobValidationError(issues)
    from pydantic import ValidationError

    try:
        return JobSpec.model_validate(doc)
    except ValidationError as exc:
        raise JobValidationError(issues_from_pydantic(exc)) from exc


def validate_job(doc: dict[str, Any], access: Access | None = None) -> JobSpec:
    """Everything: schema, pydantic, semantics, and what the submitter may reach (a tenant with
    no stored secrets when `access` is absent). Returns the spec or raises JobValidationError."""
    spec = parse_job(doc)
    issues = semantic_issues(spec, access or Access())
    if issues:
        raise JobValidationError(issues)
    return spec
