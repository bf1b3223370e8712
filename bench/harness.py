"""evaljobs' log-likelihood scoring next to lm-evaluation-harness, on one server and the same documents.

    EVALJOBS_DATASET_SOURCE=../shared/datasets python -m bench.harness --limit 200

Starts a vLLM CPU server with the embedded model (or uses `--base-url`), runs
lm-evaluation-harness 0.4.13 (`local-completions`, `add_bos_token=True`, its own task configs
pointed at the dataset source) and evaljobs' log-likelihood tasks on the first `limit`
documents of each benchmark, and prints, per benchmark: prompts per second of each, how many
picks agree for acc and acc_norm, and the largest per-choice log-likelihood difference. The
parity test (tests/runners/loglikelihood/test_harness_parity.py) asserts on the same
comparison; where the two differ, `compare` says where: prompt, BOS, boundary, values, or
normalisation.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = [
    "HARNESS_TASKS",
    "Comparison",
    "Run",
    "Server",
    "compare",
    "run_evaljobs",
    "run_harness",
]

# lm-evaluation-harness task → (its config to include, the overrides that point it at the mirror).
# BoolQ: the harness reads SuperGLUE's copy (`label`); the mirror holds google/boolq (`answer`).
HARNESS_TASKS: dict[str, tuple[str, dict[str, Any]]] = {
    "arc_easy": ("arc/arc_easy.yaml", {}),
    "arc_challenge": ("arc/arc_challenge.yaml", {}),
    "piqa": ("piqa/piqa.yaml", {"dataset_path": "ybisk/piqa", "training_split": None}),
    "boolq": (
        "super_glue/boolq/default.yaml",
        {
            "dataset_path": "google/boolq",
            "dataset_name": None,
            "training_split": None,
            "doc_to_target": "{{ 1 if answer else 0 }}",
        },
    ),
    "truthfulqa_mc2": ("truthfulqa/truthfulqa_mc2.yaml", {}),
}
# evaljobs' benchmark (and task args) for each.
EVALJOBS: dict[str, tuple[str, dict[str, Any]]] = {
    "arc_easy": ("arc_easy", {}),
    "arc_challenge": ("arc_challenge", {}),
    "piqa": ("piqa", {}),
    "boolq": ("boolq", {}),
    "truthfulqa_mc2": ("truthfulqa", {"target": "mc2"}),
}


@dataclass(frozen=True)
class Server:
    base_url: str
    """OpenAI-compatible, ending in /v1."""
    model: str
    api_key: str
    tokenizer: str
    """The checkpoint folder (the harness tokenizes on its side)."""


@dataclass
class Doc:
    """One document's choices as a harness scored them."""

    pairs: list[tuple[str, str]]
    """(context, continuation) per choice."""
    lls: list[float]
    metrics: dict[str, float]
    """acc, acc_norm (or MC2's acc) of this document."""


@dataclass
class Run:
    docs: list[Doc]
    seconds: float

    @property
    def prompts(self) -> int:
        return sum(len(d.lls) for d in self.docs)


def _task_dir(folder: Path) -> Path:
    import lm_eval
    import yaml

    tasks = Path(lm_eval.__file__).parent / "tasks"
    for name, (include, overrides) in HARNESS_TASKS.items():
        config = {"task": f"evaljobs_{name}", "include": str(tasks / include), **overrides}
        (folder / f"evaljobs_{name}.yaml").write_text(yaml.safe_dump(config))
    return folder


def _harness_lm(server: Server, concurrency: int) -> Any:
    from lm_eval.models.openai_completions import LocalCompletionsAPI

    os.environ["OPENAI_API_KEY"] = server.api_key  # the harness' bearer token
    return LocalCompletionsAPI(
        base_url=f"{server.base_url}/completions",
        model=server.model,
        tokenizer_backend="huggingface",
        tokenizer=server.tokenizer,
        add_bos_token=True,
        num_concurrent=concurrency,
        max_retries=3,
    )


def run_harness(server: Server, benchmarks: list[str], limit: int, concurrency: int) -> dict[str, Run]:
    """lm-evaluation-harness' own tasks, one benchmark at a time (so each is timed alone)."""
    import tempfile

    import lm_eval
    from lm_eval.tasks import TaskManager

    lm = _harness_lm(server, concurrency)
    runs = {}
    with tempfile.TemporaryDirectory() as folder:
        manager = TaskManager(include_path=str(_task_dir(Path(folder))))
        for bench in benchmarks:
            task = f"evaljobs_{bench}"
            start = time.perf_counter()
            out = lm_eval.simple_evaluate(
                model=lm, tasks=[task], task_manager=manager, limit=limit, log_samples=True, bootstrap_iters=0
            )
            seconds = time.perf_counter() - start
            samples = sorted(out["samples"][task], key=lambda s: int(s["doc_id"]))
            docs = [
                Doc(
                    pairs=[(a[0], a[1]) for a in s["arguments"]],
                    lls=[float(r[0][0]) for r in s["resps"]],
                    metrics={m: float(s[m]) for m in ("acc", "acc_norm") if m in s},
                )
                for s in samples
            ]
            runs[bench] = Run(docs, seconds)
    return runs


def run_evaljobs(
    server: Server, benchmarks: list[str], limit: int, concurrency: int, log_dir: Path
) -> dict[str, Run]:
    """evaljobs' log-likelihood tasks through inspect-ai, one benchmark at a time."""
    from inspect_ai import eval as inspect_eval
    from inspect_ai.model import get_model

    from runners.loglikelihood.task import loglikelihood_task

    runs = {}
    for bench in benchmarks:
        benchmark, args = EVALJOBS[bench]
        task = loglikelihood_task(
            benchmark, model_name=server.model, fewshot=0, seed=1234, limit=limit, args=args
        )
        order = [s.id for s in task.dataset]
        name = f"openai-api/vllm/{server.model}"
        model = get_model(name, base_url=server.base_url, api_key=server.api_key)
        start = time.perf_counter()
        [log] = inspect_eval(
            task, model=model, max_connections=concurrency, log_dir=str(log_dir / bench),
            display="none", log_level="warning",
        )  # fmt: skip
        seconds = time.perf_counter() - start
        if log.status != "success" or log.samples is None:
            raise RuntimeError(f"evaljobs {bench}: {log.status} {log.error.message if log.error else ''}")
        by_id: dict[Any, Any] = {s.id: s for s in log.samples}
        docs = []
        for sample_id in order:
            sample = by_id[sample_id]
            meta = sample.metadata
            value = sample.scores["mc2_scorer" if bench == "truthfulqa_mc2" else "loglikelihood_scorer"].value
            assert isinstance(value, dict)
            docs.append(
                Doc(
                    pairs=list(zip(meta["contexts"], meta["continuations"], strict=True)),
                    lls=list(meta["loglikelihoods"]),
                    metrics={k: 1.0 if v == "C" else 0.0 if v == "I" else float(v) for k, v in value.items()},
                )
            )
        runs[bench] = Run(docs, seconds)
    return runs


@dataclass
class Comparison:
    benchmark: str
    docs: int
    prompts: int
    max_ll_diff: float
    agree: dict[str, int] = field(default_factory=dict)
    """Documents whose metric value is the same, per metric."""
    problems: list[str] = field(default_factory=list)
    """Where the two differ, in words (empty: they agree)."""


def _token_diagnosis(server: Server, pairs: list[tuple[str, str]]) -> str:
    """BOS or boundary: the harness' token ids next to the ones evaljobs sends."""
    from inspect_ai.model import get_model

    from runners.loglikelihood.provider import ServedCompletionsAPI
    from runners.loglikelihood.task import encode_choices

    harness = _harness_lm(server, 1)
    api = get_model(
        f"served-completions/vllm/{server.model}", base_url=server.base_url, api_key=server.api_key
    ).api
    assert isinstance(api, ServedCompletionsAPI)
    _, ours = asyncio.run(encode_choices(api, [c for c, _ in pairs], [x for _, x in pairs]))
    for (context, continuation), encoded in zip(pairs, ours, strict=True):
        ctx_enc, cont_enc = harness._encode_pair(context, continuation)
        theirs, mine = list(ctx_enc) + list(cont_enc), encoded.prompt
        if theirs[:1] != mine[:1]:
            return f"BOS: the harness starts with token {theirs[:1]}, evaljobs with {mine[:1]}"
        if theirs != mine:
            return f"boundary: token ids differ ({len(theirs)} vs {len(mine)} tokens) for {continuation!r}"
    return ""


def compare(
    benchmark: str, harness: Run, ours: Run, server: Server | None = None, tolerance: float = 1e-4
) -> Comparison:
    """Per document: same prompts, per-choice log-likelihoods within `tolerance`, same metric values."""
    result = Comparison(benchmark, len(harness.docs), harness.prompts, 0.0)
    if len(harness.docs) != len(ours.docs):
        result.problems.append(
            f"documents: the harness scored {len(harness.docs)}, evaljobs {len(ours.docs)}"
        )
        return result
    for i, (h, e) in enumerate(zip(harness.docs, ours.docs, strict=True)):
        if h.pairs != e.pairs:
            result.problems.append(
                f"prompt: document {i} differs, harness {h.pairs[0]!r}, evaljobs {e.pairs[0]!r}"
            )
            continue
        diff = max(abs(a - b) for a, b in zip(h.lls, e.lls, strict=True))
        result.max_ll_diff = max(result.max_ll_diff, diff)
        if diff > tolerance:
            where = _token_diagnosis(server, h.pairs) if server else ""
            result.problems.append(
                f"{where or 'values'}: document {i} log-likelihoods differ by {diff:.3g} "
                f"(harness {h.lls}, evaljobs {e.lls})"
            )
        for metric, value in h.metrics.items():
            # picks are 0 or 1; MC2's probability mass moves with the log-likelihoods' last bits
            close = 1e-3 if benchmark == "truthfulqa_mc2" else 1e-9
            same = abs(value - e.metrics.get(metric, float("nan"))) <= close
            result.agree[metric] = result.agree.get(metric, 0) + same
            if not same and diff <= tolerance:
                result.problems.append(
                    f"normalisation: document {i} {metric} is {value} in the harness, "
                    f"{e.metrics.get(metric)} in evaljobs, with the same log-likelihoods"
                )
    return result


@contextmanager
def _embedded_server(max_model_len: int) -> Iterator[Server]:
    from runners.embedded_model import EMBEDDED_MODEL_NAME, prepare_embedded_model
    from runners.serving import embedded_server_options
    from runners.vllm_server import serve

    path = prepare_embedded_model(
        Path(__file__).resolve().parents[1] / ".evaljobs" / "models" / EMBEDDED_MODEL_NAME
    )
    with serve(embedded_server_options(path, max_model_len), log=lambda _: None, timeout_s=900) as info:
        yield Server(info.base_url, info.model, info.api_key, str(path))


def main() -> None:
    import tempfile

    from runners.datasets_source import activate, parse_source

    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--limit", type=int, default=100)
    parser.add_argument("--benchmarks", default="arc_easy,piqa,boolq")
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args()
    activate(parse_source(os.environ.get("EVALJOBS_DATASET_SOURCE", "hub")))
    names = args.benchmarks.split(",")
    with _embedded_server(2048) as server, tempfile.TemporaryDirectory() as logs:
        # evaljobs first, then the harness: the server is warm for both (a first run warms it up)
        run_evaljobs(server, names[:1], 8, args.concurrency, Path(logs) / "warm")
        ours = run_evaljobs(server, names, args.limit, args.concurrency, Path(logs))
        theirs = run_harness(server, names, args.limit, args.concurrency)
        print(
            "| benchmark | docs | choices | harness choices/s | evaljobs choices/s | speed-up "
            "| acc agree | acc_norm agree | max LL diff |"
        )
        print("|---|---|---|---|---|---|---|---|---|")
        for name in names:
            c = compare(name, theirs[name], ours[name], server)
            h, e = theirs[name], ours[name]
            print(
                f"| {name} | {c.docs} | {h.prompts} | {h.prompts / h.seconds:.2f} "
                f"| {h.prompts / e.seconds:.2f} "
                f"| {h.seconds / e.seconds:.2f}× | {c.agree.get('acc', 0)}/{c.docs} "
                f"| {c.agree.get('acc_norm', '–')}/{c.docs} | {c.max_ll_diff:.2g} |"
            )
            for problem in c.problems[:5]:
                print(f"  {problem}")


if __name__ == "__main__":
    main()
