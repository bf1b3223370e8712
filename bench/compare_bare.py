"""Time the same evaluation through evaljobs and through bare inspect-ai, same server and samples.

    python -m bench.compare_bare --limit 20 --max-tokens 16 --rounds 2

Starts one vLLM CPU server with the embedded model, then alternates bare / evaljobs runs
(so neither side always gets a warmer server), checks that every sample scores the same
at temperature 0, and prints a markdown section for docs/benchmarks.md. One uncounted
warm-up run first fills the dataset caches and the server's prefix cache.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
from pathlib import Path

from bench.bare_inspect import KEY_ENV, differences, run_bare, run_evaljobs
from evaljobs.settings import Settings
from runners.datasets_source import activate, parse_source
from runners.embedded_model import EMBEDDED_MODEL_NAME, prepare_embedded_model
from runners.serving import embedded_server_options
from runners.vllm_server import serve

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--benchmarks", default="arc_easy,boolq,piqa,hellaswag")
    parser.add_argument("--limit", type=int, default=20)
    parser.add_argument("--max-tokens", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    benchmarks = args.benchmarks.split(",")

    work = Path(tempfile.mkdtemp(prefix="evaljobs-bench-"))
    settings = Settings(home=work / "home", wandb_mode="offline", executor="inline")
    activate(parse_source(settings.dataset_source))
    model = prepare_embedded_model(REPO / ".evaljobs" / "models" / EMBEDDED_MODEL_NAME)
    options = embedded_server_options(model)
    bare_s, ours_s, diffs = [], [], []
    with serve(options, log=lambda _: None, timeout_s=900) as server:
        os.environ[KEY_ENV] = server.api_key
        # Warm-up, not counted: fills the dataset caches and the server's prefix cache for both sides.
        run_bare(
            benchmarks,
            server.model,
            server.base_url,
            server.api_key,
            args.limit,
            args.max_tokens,
            work / "warm",
        )
        for round_no in range(args.rounds):
            bare = run_bare(
                benchmarks,
                server.model,
                server.base_url,
                server.api_key,
                args.limit,
                args.max_tokens,
                work / f"bare-{round_no}",
            )
            ours = run_evaljobs(
                benchmarks, server.model, server.base_url, args.limit, args.max_tokens, settings
            )
            bare_s.append(bare.seconds)
            ours_s.append(ours.seconds)
            diffs += differences(bare, ours)
    b, o = statistics.median(bare_s), statistics.median(ours_s)
    samples = args.limit * len(benchmarks)
    command = (
        f"python -m bench.compare_bare --benchmarks {args.benchmarks} --limit {args.limit}"
        f" --max-tokens {args.max_tokens} --rounds {args.rounds}"
    )
    runs_bare = ", ".join(f"{s:.1f}" for s in bare_s)
    runs_ours = ", ".join(f"{s:.1f}" for s in ours_s)
    ratios = ", ".join(f"{x / y:.2f}" for x, y in zip(ours_s, bare_s, strict=True))
    ours_label = "evaljobs job (submit → validate → record → eval_set → registry + W&B offline run)"
    shown = "" if not diffs else " — " + "; ".join(diffs[:10])
    print(f"""
### evaljobs vs bare inspect-ai (same vLLM CPU server, same samples)

`{command}`

| | median wall time | runs (s) |
|---|---|---|
| bare `inspect_ai.eval` | {b:.1f} s | {runs_bare} |
| {ours_label} | {o:.1f} s | {runs_ours} |
| ratio evaljobs / bare (medians) | **{o / b:.2f}** | per round: {ratios} |

{samples} samples a run ({len(benchmarks)} benchmarks × {args.limit}), \
temperature 0, max_tokens {args.max_tokens}.
Per-sample score differences: **{len(diffs)}**{shown}.
""")


if __name__ == "__main__":
    main()
