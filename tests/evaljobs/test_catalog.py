import json

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
