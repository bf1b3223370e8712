"""How much of a model server a job keeps busy: samples/s of a raw client, bare inspect-ai and an
evaljobs job, on the same server and samples.

    python -m bench.throughput --samples 500 --service-time 1.0 --batch-width 256

The server is `bench.stub_server`: every request takes `--service-time` seconds, at most
`--batch-width` at once, so the raw client's rate is what the server allows and the others'
share of it is what the harness leaves on the table. `--service-time 0` makes the harness
alone the limit. The samples are ARC-Easy's, in generate mode (one chat request each).

- **raw**: an async HTTP client holding `batch-width` requests in flight, the prompts inspect-ai
  would send (its multiple-choice template);
- **bare inspect-ai**: `inspect_ai.eval` of `inspect_evals/arc_easy` with its defaults
  (adaptive concurrency), and with `max_connections` = batch width;
- **evaljobs job**: a checkpoint job (the embedded model's folder, so the runner preflights and
  plans it) whose runner starts the stub in place of `vllm serve`, with the plan's
  `--max-num-seqs` as its batch width; the job's settings are the defaults, except the server's
  `max_num_seqs` (the hardware's figure, `vllm_max_num_seqs`) = batch width.

`--vllm` adds the real vLLM CPU server with the embedded model: raw, bare and job at the
concurrency each picks by default.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import functools
import json
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import stub_server
from bench.bare_inspect import run_job_doc
from evaljobs.settings import Settings
from runners.datasets_source import activate, parse_source
from runners.embedded_model import EMBEDDED_MODEL_NAME, prepare_embedded_model
from runners.vllm_server import API_KEY, ServerOptions

REPO = Path(__file__).resolve().parents[1]
BENCHMARK = "arc_easy"


@dataclass
class Rate:
    label: str
    samples: int
    seconds: float
    note: str = ""

    @property
    def per_s(self) -> float:
        return self.samples / self.seconds


def stub_command(service_time: float, options: ServerOptions, port: int) -> list[str]:
    """What the runner starts in place of `vllm serve`: the stub, as wide as the plan's server."""
    width = (options.max_num_seqs or 128) * options.data_parallel
    return [
        sys.executable, "-m", "bench.stub_server", "--port", str(port),
        "--service-time", str(service_time), "--batch-width", str(width),
        "--served-model-name", options.served_name, "--api-key", API_KEY,
    ]  # fmt: skip


def running_stub(service_time: float, width: int) -> contextlib.AbstractContextManager[str]:
    return stub_server.running(service_time, width, api_key=API_KEY)


def chat_prompts(limit: int) -> list[list[dict[str, str]]]:
    """The messages inspect-ai sends for each sample: its multiple-choice template filled in."""
    from inspect_ai.solver._multiple_choice import SINGLE_ANSWER_TEMPLATE, answer_options
    from inspect_ai.solver._task_state import Choices
    from inspect_ai.util import registry_create

    task = registry_create("task", f"inspect_evals/{BENCHMARK}")
    prompts = []
    for sample in list(task.dataset)[:limit]:
        question = sample.input if isinstance(sample.input, str) else str(sample.input[-1].content)
        content = SINGLE_ANSWER_TEMPLATE.format(
            question=question,
            choices=answer_options(Choices(sample.choices or [])),
            letters=",".join(chr(65 + i) for i in range(len(sample.choices or []))),
        )
        prompts.append([{"role": "user", "content": content}])
    return prompts


async def _raw(base_url: str, model: str, api_key: str, prompts: list[Any], width: int) -> float:
    """aiohttp, `width` requests in flight: the least client work per request we know of (httpx's
    pool costs several times more per request with hundreds of connections)."""
    import aiohttp

    slots = asyncio.Semaphore(width)
    connector = aiohttp.TCPConnector(limit=width)
    headers = {"Authorization": f"Bearer {api_key}"}
    async with aiohttp.ClientSession(connector=connector, headers=headers) as session:

        async def one(messages: Any) -> None:
            async with slots:
                body = {"model": model, "messages": messages, "temperature": 0, "max_tokens": 16}
                async with session.post(f"{base_url}/chat/completions", json=body) as response:
                    response.raise_for_status()
                    await response.json()

        start = time.perf_counter()
        await asyncio.gather(*(one(m) for m in prompts))
        return time.perf_counter() - start


def raw_client(base_url: str, model: str, api_key: str, prompts: list[Any], width: int) -> Rate:
    seconds = asyncio.run(_raw(base_url, model, api_key, prompts, width))
    return Rate(f"raw async client, {width} in flight", len(prompts), seconds)


def bare_inspect(base_url: str, model: str, api_key: str, limit: int, log_dir: Path, **config: Any) -> Rate:
    from inspect_ai import eval as inspect_eval

    start = time.perf_counter()
    [log] = inspect_eval(
        f"inspect_evals/{BENCHMARK}",
        model=f"openai-api/stub/{model}",
        model_base_url=base_url,
        model_args={"api_key": api_key},
        limit=limit,
        temperature=0,
        max_tokens=16,
        log_dir=str(log_dir),
        display="none",
        log_level="warning",
        **config,
    )
    seconds = time.perf_counter() - start
    assert log.status == "success", log.error
    shown = ", ".join(f"{k} {v}" for k, v in config.items()) or "its defaults (adaptive concurrency)"
    return Rate(f"bare `inspect_ai.eval`, {shown}", limit, seconds)


def evaljobs_job(
    service_time: float | None, width: int | None, limit: int, work: Path, processes: int | None = None
) -> Rate:
    """A checkpoint job with default settings (but `processes` harness processes when given);
    its runner serves the stub instead of vLLM, or (`service_time` None) vLLM itself."""
    import runners.evaluate as evaluate
    import runners.harness_pool as harness_pool
    import runners.serving as serving

    settings = Settings(
        home=work / f"home-{processes}",
        wandb_mode="offline",
        executor="inline",
        vllm_max_num_seqs=width,
        harness_processes=processes,
    )
    model = prepare_embedded_model(REPO / ".evaljobs" / "models" / EMBEDDED_MODEL_NAME)
    doc = {
        "project": "bench",
        "model": {"checkpoint": {"uri": str(model)}},
        "benchmarks": [BENCHMARK],
        "limit": limit,
        "scoring": "generate",
        "generation": {"temperature": 0, "max_tokens": 16},
    }
    original = serving.served_checkpoint
    if service_time is not None:
        serving.served_checkpoint = functools.partial(  # type: ignore[assignment]
            original, build=functools.partial(stub_command, service_time)
        )
    phases: list[float] = []  # the evaluation alone: harness processes' start, eval, merge

    def timed(run: Any) -> Any:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return run(*args, **kwargs)
            finally:
                phases.append(time.perf_counter() - start)

        return wrapper

    originals = evaluate.run_eval_set, harness_pool.run_in_processes
    evaluate.run_eval_set = timed(originals[0])  # type: ignore[assignment]
    harness_pool.run_in_processes = timed(originals[1])  # type: ignore[assignment]
    try:
        job = run_job_doc(doc, settings)
    finally:
        serving.served_checkpoint = original
        evaluate.run_eval_set, harness_pool.run_in_processes = originals  # type: ignore[assignment]
    concurrency = job.runtime.concurrency
    assert concurrency is not None
    note = (
        f"{concurrency.max_connections} in flight ({concurrency.source}), "
        f"{concurrency.processes} harness process(es)"
    )
    label = "default settings" if processes is None else f"harness_processes {processes}"
    return Rate(f"evaljobs job, {label} (its evaluation phase)", limit, phases[0], note)


def vllm_rates(prompts: list[Any], limit: int, work: Path) -> list[Rate]:
    """Raw, bare inspect-ai and a default job on the vLLM CPU server with the embedded model, at
    the capacity its plan gives it (vLLM's CPU default, 128 sequences)."""
    from runners.gpu_plan import default_max_num_seqs
    from runners.serving import embedded_server_options
    from runners.vllm_server import serve

    width = default_max_num_seqs(0, 0)
    model = prepare_embedded_model(REPO / ".evaljobs" / "models" / EMBEDDED_MODEL_NAME)
    options = dataclasses.replace(embedded_server_options(model), max_num_seqs=width)
    with serve(options, log=lambda _: None, timeout_s=900) as server:
        key, url, name = server.api_key, server.base_url, server.model
        bare_inspect(url, name, key, 10, work / "warm", max_connections=width)  # compile, caches
        rates = [
            raw_client(url, name, key, prompts, width),
            bare_inspect(url, name, key, limit, work / "vllm-bare"),
            bare_inspect(url, name, key, limit, work / "vllm-bare-wide", max_connections=width),
        ]
    # the job serves the checkpoint itself (its own server, same options); its evaluation phase is timed
    rates.append(evaljobs_job(None, None, limit, work / "vllm-job"))
    return rates


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--samples", type=int, default=500)
    parser.add_argument("--service-time", type=float, default=1.0)
    parser.add_argument("--batch-width", type=int, default=256)
    parser.add_argument("--only", default="raw,bare,bare-wide,job", help="which clients, comma-separated")
    parser.add_argument(
        "--job-processes", default="", help="also jobs with these harness_processes settings, e.g. 1,2"
    )
    parser.add_argument(
        "--bare-config",
        action="append",
        default=[],
        help='also bare inspect-ai at the batch width with these eval options (JSON), e.g. {"log_buffer": 1}',
    )
    parser.add_argument(
        "--vllm", action="store_true", help="the vLLM CPU server with the embedded model instead"
    )
    args = parser.parse_args()
    only = set(args.only.split(","))

    work = Path(tempfile.mkdtemp(prefix="evaljobs-throughput-"))
    activate(parse_source(Settings(home=work / "probe").dataset_source))
    prompts = chat_prompts(args.samples)
    rates: list[Rate] = []
    if args.vllm:
        rates = vllm_rates(prompts, args.samples, work)
        print(f"\n`python -m bench.throughput --samples {args.samples} --vllm`\n")
        print("| client | samples/s | share of the first row | |\n|---|---|---|---|")
        for r in rates:
            print(f"| {r.label} | {r.per_s:.1f} | {r.per_s / rates[0].per_s:.2f} | {r.note} |")
        return
    with running_stub(args.service_time, args.batch_width) as base_url:
        if "raw" in only:
            rates.append(raw_client(base_url, "stub", API_KEY, prompts, args.batch_width))
        if "bare" in only:
            rates.append(bare_inspect(base_url, "stub", API_KEY, args.samples, work / "bare"))
        if "bare-wide" in only:
            rates.append(
                bare_inspect(
                    base_url,
                    "stub",
                    API_KEY,
                    args.samples,
                    work / "bare-wide",
                    max_connections=args.batch_width,
                )
            )
        for n, extra in enumerate(args.bare_config):
            config = {"max_connections": args.batch_width, **json.loads(extra)}
            rates.append(bare_inspect(base_url, "stub", API_KEY, args.samples, work / f"bare-{n}", **config))
    if "job" in only:
        rates.append(evaljobs_job(args.service_time, args.batch_width, args.samples, work))
    for n in filter(None, args.job_processes.split(",")):
        rates.append(evaljobs_job(args.service_time, args.batch_width, args.samples, work, int(n)))
    base = rates[0].per_s
    print(
        f"\n`python -m bench.throughput --samples {args.samples} --service-time {args.service_time} "
        f"--batch-width {args.batch_width}"
        + (f" --job-processes {args.job_processes}" if args.job_processes else "")
        + "".join(f" --bare-config '{c}'" for c in args.bare_config)
        + "`\n"
    )
    print("| client | samples/s | share of the first row | |\n|---|---|---|---|")
    for r in rates:
        print(f"| {r.label} | {r.per_s:.1f} | {r.per_s / base:.2f} | {r.note} |")


if __name__ == "__main__":
    main()
