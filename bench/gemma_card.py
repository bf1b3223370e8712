"""Reproduce Gemma 3 270M (pre-trained) model-card numbers with the embedded model.

    python -m bench.gemma_card                # every sample the dataset source has
    python -m bench.gemma_card --limit 200    # a quicker, noisier slice

Runs one evaljobs job (the real path: validate → record → vLLM CPU server → eval_set with
log-likelihood scoring → registry) and prints a markdown table next to the card's numbers.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from bench.two_models import run_inline
from evaljobs.leaderboard import Z95
from evaljobs.settings import Settings
from evaljobs.stores.sqlite_registry import SqliteRegistry
from runners.embedded_model import EMBEDDED_MODEL_NAME, prepare_embedded_model

REPO = Path(__file__).resolve().parents[1]

# Google's model card for Gemma 3 270M (pre-trained): benchmark -> (shots, score).
CARD = {"arc_easy": (0, 57.7), "piqa": (0, 67.7), "boolq": (0, 61.4), "hellaswag": (10, 40.9)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument(
        "--limit-hellaswag", type=int, default=None, help="HellaSwag 10-shot costs ~10x a sample"
    )
    parser.add_argument("--benchmarks", default=",".join(CARD))
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="evaljobs-card-"))
    settings = Settings(home=work / "home", wandb_mode="offline", executor="inline")
    model = prepare_embedded_model(REPO / ".evaljobs" / "models" / EMBEDDED_MODEL_NAME)
    names = args.benchmarks.split(",")
    doc = {
        "project": "gemma-card",
        "model": {"checkpoint": {"uri": str(model), "max_model_len": 2048}},
        "benchmarks": [
            {"id": b, "scoring": "loglikelihood", "fewshot": CARD[b][0]}
            | ({"limit": args.limit_hellaswag} if b == "hellaswag" and args.limit_hellaswag else {})
            for b in names
        ],
        "max_connections": 4,
    }
    if args.limit:
        doc["limit"] = args.limit
    registry = SqliteRegistry(settings.db_path)
    job, minutes = run_inline(doc, registry, settings)
    limit = f" --limit {args.limit}" if args.limit else ""
    limit += f" --limit-hellaswag {args.limit_hellaswag}" if args.limit_hellaswag else ""
    limit += f" --benchmarks {args.benchmarks}" if names != list(CARD) else ""

    print(f"\n`python -m bench.gemma_card{limit}` — job {job.id}, {minutes:.1f} min on this machine\n")
    print("| benchmark | shots | model card | evaljobs acc | evaljobs acc_norm (95% CI) | samples |")
    print("|---|---|---|---|---|---|")
    for result in job.results:
        metrics = {
            m.name.rsplit("/", 1)[0] if m.name.endswith("/accuracy") else m.name: m for m in result.metrics
        }
        acc, norm = metrics.get("acc"), metrics.get("acc_norm")
        shots, card = CARD[result.benchmark]
        ci = (
            f"[{100 * (norm.value - Z95 * (norm.stderr or 0)):.1f}, "
            f"{100 * (norm.value + Z95 * (norm.stderr or 0)):.1f}]"
            if norm
            else "-"
        )
        print(
            f"| {result.benchmark} | {shots} | {card} | "
            f"{100 * acc.value:.1f} ± {100 * (acc.stderr or 0):.1f} | "
            f"{100 * norm.value:.1f} {ci} | {result.samples_completed} |"
            if acc and norm
            else f"| {result.benchmark} | metrics {sorted(metrics)} |"
        )


if __name__ == "__main__":
    main()
