import json

import pytest
from typer.testing import CliRunner

from evaljobs.catalog import load_catalog
from functions.cli import app


def test_catalog_has_every_wandb_id() -> None:
    catalog = load_catalog()
    assert len(catalog) == 105
    assert {"arc_easy", "mmlu_5_shot", "agentharm_benign", "bfcl", "xstest"} <= catalog.keys()


def test_entries_are_resolved_against_inspect_evals() -> None:
    arc = load_catalog()["arc_easy"]
    assert arc.available and arc.category == "Reasoning"
    assert arc.samples == 2376 and arc.datasets == ["allenai/ai2_arc"]
    assert "science" in arc.description


def test_missing_task_is_unavailable_not_a_crash() -> None:
    ahb = load_catalog()["ahb"]
    assert not ahb.available and "ahb" in (ahb.reason or "")


def test_requirements() -> None:
    catalog = load_catalog()
    assert catalog["healthbench"].requires.judge and catalog["healthbench"].requires.extras == ["healthbench"]
    assert catalog["gpqa_diamond"].requires.gated
    assert catalog["bfcl"].requires.tools
    assert catalog["mathvista"].requires.vision


def test_cli_catalog_json() -> None:
    result = CliRunner().invoke(app, ["catalog", "--json"])
    assert result.exit_code == 0
    rows = json.loads(result.stdout)
    assert len(rows) == 105 and {"id", "category", "description", "samples", "requires"} <= rows[0].keys()


def test_a_task_whose_pip_extra_is_missing_is_unavailable_with_what_to_install(home: object) -> None:
    """ifeval needs `instruction_following_eval` (inspect_evals[ifeval], from GitHub, not PyPI):
    before, the catalog called it available and a job failed at run time with an AssertionError."""
    from importlib.util import find_spec

    from evaljobs.errors import JobValidationError
    from evaljobs.records import Trigger
    from evaljobs.settings import get_settings
    from functions.submit import access_for, prepare_job

    assert find_spec("instruction_following_eval") is None  # as installed here
    catalog = load_catalog()
    ifeval = catalog["ifeval"]
    assert not ifeval.available and "inspect_evals[ifeval]" in (ifeval.reason or "")
    assert "instruction_following_eval" in (ifeval.reason or "")
    assert catalog["medqa"].available  # its extra is a type hint only; it runs from the mirror
    settings = get_settings()
    doc = {"model": {"checkpoint": {"uri": "/m"}}, "benchmarks": ["arc_easy", "ifeval"]}
    with pytest.raises(JobValidationError) as caught:
        prepare_job(doc, settings, access_for(Trigger(kind="cli"), settings))
    assert "/benchmarks/1" in str(caught.value) and "instruction_following_eval" in str(caught.value)
