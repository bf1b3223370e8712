"""Is a log-likelihood re-run bit-identical? Two runs of the same tasks on one server.

    EVALJOBS_DATASET_SOURCE=../shared/datasets python -m bench.rerun \\
        --benchmarks mmlu_5_shot,arc_easy:5 --limit 20 [--chunked-prefill]

Starts a Gemma 3 270M CPU server as evaljobs starts one (chunked prefill off), or with vLLM's
chunked prefill on (`--chunked-prefill`), runs each benchmark's log-likelihood task twice
through inspect-ai with 8 requests in flight, and prints per benchmark how many per-choice
values are identical between the runs and the largest difference. `name:K` runs with K
few-shot examples: long prompts, several in flight, are what a step's token budget splits
when chunked prefill is on.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import tempfile
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]


def _values(
    server: Any, benchmark: str, fewshot: int | None, limit: int, log_dir: Path
) -> dict[Any, list[float]]:
    from inspect_ai import eval as inspect_eval
    from inspect_ai.model import get_model

    from runners.loglikelihood.task import loglikelihood_task

    task = loglikelihood_task(benchmark, model_name=server.model, fewshot=fewshot, seed=1234, limit=limit)
    model = get_model(
        f"openai-api/vllm/{server.model}", base_url=server.base_url, api_key=server.api_key, memoize=False
    )
    [log] = inspect_eval(
        task, model=model, max_connections=8, log_dir=str(log_dir), display="none", log_level="warning"
    )
    if log.status != "success" or log.samples is None:
        raise RuntimeError(f"{benchmark}: {log.status} {log.error.message if log.error else ''}")
    return {s.id: list(s.metadata["loglikelihoods"]) for s in log.samples}


def main() -> None:
    from runners.datasets_source import activate, parse_source
    from runners.embedded_model import prepare_embedded_model
    from runners.serving import embedded_server_options
    from runners.vllm_server import serve

    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--benchmarks", default="mmlu_5_shot,arc_easy:5")
    parser.add_argument("--limit", type=int, default=20)
    parser.add_argument("--chunked-prefill", action="store_true")
    args = parser.parse_args()
    activate(parse_source(os.environ.get("EVALJOBS_DATASET_SOURCE", "hub")))
    path = prepare_embedded_model(REPO / ".evaljobs" / "models" / "gemma-3-270m")
    options = dataclasses.replace(embedded_server_options(path, 2048), chunked_prefill=args.chunked_prefill)
    print(f"chunked prefill {'on' if args.chunked_prefill else 'off'}; {args.limit} documents each")
    print("| benchmark | few-shot | choices | identical | max diff (nats) |")
    print("|---|---|---|---|---|")
    with serve(options, log=lambda _: None, timeout_s=900) as server, tempfile.TemporaryDirectory() as logs:
        for spec in args.benchmarks.split(","):
            name, _, k = spec.partition(":")
            fewshot = int(k) if k else None
            first, second = (
                _values(server, name, fewshot, args.limit, Path(logs) / f"{name}-{i}") for i in range(2)
            )
            pairs = [(x, y) for key in first for x, y in zip(first[key], second[key], strict=True)]
            same = sum(x == y for x, y in pairs)
            worst = max((abs(x - y) for x, y in pairs), default=0.0)
            print(f"| {name} | {k or 'default'} | {len(pairs)} | {same}/{len(pairs)} | {worst:.3g} |")


if __name__ == "__main__":
    main()
