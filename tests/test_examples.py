"""Every example job in examples/ is a valid job (the quickstart runs two of them)."""

from pathlib import Path

import pytest
from typer.testing import CliRunner

from functions.cli import app

EXAMPLES = sorted((Path(__file__).resolve().parents[1] / "examples").glob("*.yaml"))


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_example_job_validates(home: Path, path: Path) -> None:
    result = CliRunner().invoke(app, ["validate", str(path)])
    assert result.exit_code == 0, result.output


def test_the_quickstart_s_two_models_share_their_log_likelihood_benchmarks() -> None:
    """So `compare --last demo` pairs them sample by sample."""
    import yaml

    base = yaml.safe_load((EXAMPLES[0].parent / "quickstart.yaml").read_text())
    instruct = yaml.safe_load((EXAMPLES[0].parent / "quickstart-instruct.yaml").read_text())
    assert set(base["benchmarks"]) <= {b if isinstance(b, str) else b["id"] for b in instruct["benchmarks"]}
    assert base["limit"] == instruct["limit"] and instruct["baseline"] == "project"
