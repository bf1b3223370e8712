"""Both embedded models on the same benchmarks and samples, side by side, and compared.

    python -m bench.two_models --limit 1000 --limit-hellaswag 200

Runs one evaljobs job per model (the real path: validate → registry → vLLM CPU server →
eval_set with log-likelihood scoring), Gemma 3 270M first, then SmolLM2 135M Instruct with
`baseline: project`, so its job records the paired comparison with Gemma's. Prints a markdown
table of both models' acc and acc_norm with 95% intervals, the published figures beside, and
the comparison's verdict per benchmark.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import Any

from evaljobs.leaderboard import Z95
from evaljobs.records import BenchmarkResult, JobRecord, JobStatus, Trigger
from evaljobs.settings import Settings
from evaljobs.stores.sqlite_registry import SqliteRegistry
from functions.submit import submit_job
from runners.embedded_model import EMBEDDED_MODEL_NAME, INSTRUCT_MODEL_NAME, prepare_embedded_model
from runners.job import run_job

REPO = Path(__file__).resolve().parents[1]
BENCHMARKS = ("arc_easy", "piqa", "boolq", "hellaswag")  # 0-shot, log-likelihood

# Published figures (percent) and where they come from; absent where none was found.
PUBLISHED: dict[str, dict[str, tuple[str, float]]] = {
    EMBEDDED_MODEL_NAME: {  # Google's model card (Gemma 3 270M pre-trained); HellaSwag there is 10-shot
        "arc_easy": ("acc_norm", 57.7),
        "piqa": ("acc_norm", 67.7),
        "boolq": ("acc", 61.4),
    },
    INSTRUCT_MODEL_NAME: {  # third-party lm-evaluation-harness 0-shot run of the original bf16 model
        "arc_easy": ("acc", 54.12),
        "piqa": ("acc_norm", 66.92),
        "hellaswag": ("acc_norm", 42.99),
    },
}


def run_inline(doc: dict[str, Any], registry: SqliteRegistry, settings: Settings) -> tuple[JobRecord, float]:
    """Submit the job and run it in this process (its runner's work included); the job and minutes."""
    ids: list[str] = []

    class Later:
        def dispatch(self, job_id: str) -> None:
            ids.append(job_id)

    start = time.perf_counter()
    submit_job(doc, trigger=Trigger(kind="cli"), registry=registry, executor=Later(), settings=settings)
    status = run_job(ids[0], registry, settings)
    job = registry.get(ids[0])
    if status is not JobStatus.SUCCEEDED:
        raise SystemExit(f"job {job.id} {status.value}: {job.error}")
    return job, (time.perf_counter() - start) / 60


def _cell(result: BenchmarkResult | None, metric: str) -> str:
    found = next((m for m in result.metrics if m.name == f"{metric}/accuracy"), None) if result else None
    if found is None:
        return "-"
    half = Z95 * (found.stderr or 0)
    return f"{100 * found.value:.1f} [{100 * (found.value - half):.1f}, {100 * (found.value + half):.1f}]"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--limit", type=int, default=200)
    parser.add_argument("--limit-hellaswag", type=int, default=100)
    parser.add_argument("--benchmarks", default=",".join(BENCHMARKS))
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="evaljobs-two-models-"))
    settings = Settings(home=work / "home", wandb_mode="offline", executor="inline")
    registry = SqliteRegistry(settings.db_path)
    names = args.benchmarks.split(",")
    jobs: dict[str, tuple[JobRecord, float]] = {}
    for model in (EMBEDDED_MODEL_NAME, INSTRUCT_MODEL_NAME):
        path = prepare_embedded_model(REPO / ".evaljobs" / "models" / model, name=model)
        doc = {
            "project": "two-models",
            "model": {"checkpoint": {"uri": str(path), "max_model_len": 2048}},
            "scoring": "loglikelihood",
            "benchmarks": [
                {"id": b, "fewshot": 0, "limit": args.limit_hellaswag if b == "hellaswag" else args.limit}
                for b in names
            ],
            "max_connections": 4,
        }
        if model == INSTRUCT_MODEL_NAME:
            doc["baseline"] = "project"
        jobs[model] = run_inline(doc, registry, settings)

    base, base_min = jobs[EMBEDDED_MODEL_NAME]
    other, other_min = jobs[INSTRUCT_MODEL_NAME]
    command = f"python -m bench.two_models --limit {args.limit} --limit-hellaswag {args.limit_hellaswag}"
    print(f"\n`{command}` — jobs {base.id} ({base_min:.1f} min) and {other.id} ({other_min:.1f} min)\n")
    print(
        "| benchmark | n | Gemma 3 270M acc | Gemma acc_norm | published | "
        "SmolLM2 135M Instruct acc | SmolLM2 acc_norm | published | SmolLM2 − Gemma (primary) | verdict |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    verdicts = {
        c.benchmark: c for c in (other.runtime.comparison.benchmarks if other.runtime.comparison else [])
    }
    for bench in names:
        a = next((r for r in base.results if r.benchmark == bench), None)
        b = next((r for r in other.results if r.benchmark == bench), None)
        pub_a = PUBLISHED[EMBEDDED_MODEL_NAME].get(bench)
        pub_b = PUBLISHED[INSTRUCT_MODEL_NAME].get(bench)
        verdict = verdicts.get(bench)
        diff = (
            f"{100 * verdict.diff:+.1f} [{100 * verdict.ci95_low:+.1f}, {100 * verdict.ci95_high:+.1f}]"
            if verdict
            and verdict.diff is not None
            and verdict.ci95_low is not None
            and verdict.ci95_high is not None
            else "-"
        )
        print(
            f"| {bench} | {b.samples_completed if b else '-'} | {_cell(a, 'acc')} | {_cell(a, 'acc_norm')} | "
            f"{f'{pub_a[1]} ({pub_a[0]})' if pub_a else '-'} | {_cell(b, 'acc')} | {_cell(b, 'acc_norm')} | "
            f"{f'{pub_b[1]} ({pub_b[0]})' if pub_b else '-'} | {diff} | {verdict.verdict if verdict else '-'}"
            " |"
        )


if __name__ == "__main__":
    main()
