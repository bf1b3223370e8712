"""A latency-modelled OpenAI-compatible model server: the shape of a GPU batch, without the GPU.

    python -m bench.stub_server --port 8000 --service-time 1.0 --batch-width 256

Every request is served in `service_time` seconds, at most `batch_width` at once (the rest
queue, as a continuous-batching server queues past its `max_num_seqs`); its CPU cost is a
few JSON encodings, so what a client reaches against it is what the client itself can drive.
It speaks what evaljobs and inspect-ai ask of a vLLM server:

- `POST /v1/chat/completions`: `ANSWER: X`, X a letter fixed by the prompt (multiple choice);
- `POST /v1/completions`: text or token-id prompts, with `prompt_logprobs` (vLLM's shape,
  `return_tokens_as_token_ids` honoured) and `echo` + `logprobs` (the legacy shape);
- `POST /tokenize`: one token per UTF-8 byte (prefix-consistent, as a real tokenizer is on
  the boundaries log-likelihood scoring uses), BOS 2 with special tokens;
- `GET /health`, `GET /v1/models`, `GET /metrics` (`vllm:request_success_total`).

Started by `bench.throughput` directly, or by a job's runner in place of `vllm serve` (the
flags it takes are the ones the runner's plan decides: `--max-num-seqs` is the batch width).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import json
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

__all__ = ["StubServer", "main", "running"]

Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]

BOS = 2


def _tokens(text: str, special: bool) -> list[int]:
    return ([BOS] if special else []) + [b + 3 for b in text.encode()]


def _logprob(token: int, position: int) -> float:
    return -((token * 31 + position * 7) % 97) / 10 - 0.01


class StubServer:
    """The ASGI app; `served` counts finished requests."""

    def __init__(self, *, service_time: float, batch_width: int, model: str, api_key: str | None) -> None:
        self.service_time = service_time
        self.batch_width = batch_width
        self.model = model
        self.api_key = api_key
        self.served = 0
        self._slots: asyncio.Semaphore | None = None

    async def __call__(self, scope: dict[str, Any], receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        path, method = scope["path"], scope["method"]
        if method == "GET":
            if path == "/health":
                return await _respond(send, 200, b"")
            if path == "/v1/models":
                return await _json(send, {"object": "list", "data": [{"id": self.model, "object": "model"}]})
            if path == "/metrics":
                line = f'vllm:request_success_total{{finished_reason="stop"}} {self.served}\n'
                return await _respond(send, 200, line.encode(), b"text/plain")
            return await _respond(send, 404, b"")
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        if self.api_key and dict(scope["headers"]).get(b"authorization") != f"Bearer {self.api_key}".encode():
            return await _json(send, {"error": {"message": "bad key"}}, 401)
        request = json.loads(body)
        if path == "/tokenize":
            return await _json(
                send, {"tokens": _tokens(request["prompt"], request.get("add_special_tokens", True))}
            )
        handlers = {"/v1/chat/completions": self._chat, "/v1/completions": self._completion}
        if path not in handlers:
            return await _respond(send, 404, b"")
        if self._slots is None:
            self._slots = asyncio.Semaphore(self.batch_width)
        async with self._slots:
            await asyncio.sleep(self.service_time)
        self.served += 1
        await _json(send, handlers[path](request))

    def _chat(self, request: dict[str, Any]) -> dict[str, Any]:
        prompt = json.dumps(request.get("messages"), sort_keys=True)
        letter = "ABCD"[hashlib.blake2b(prompt.encode(), digest_size=1).digest()[0] % 4]
        words = len(prompt) // 4
        return {
            "id": "chatcmpl-stub",
            "object": "chat.completion",
            "created": 0,
            "model": self.model,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": f"ANSWER: {letter}"},
                    "finish_reason": "stop",
                    "logprobs": None,
                }
            ],
            "usage": {"prompt_tokens": words, "completion_tokens": 3, "total_tokens": words + 3},
        }

    def _completion(self, request: dict[str, Any]) -> dict[str, Any]:
        prompt = request.get("prompt")
        if isinstance(prompt, list) and len(prompt) == 1 and isinstance(prompt[0], list | str):
            prompt = prompt[0]
        ids = prompt if isinstance(prompt, list) else _tokens(str(prompt), True)
        by_id = bool(request.get("return_tokens_as_token_ids"))
        choice: dict[str, Any] = {"index": 0, "text": " a", "finish_reason": "length", "logprobs": None}
        if (top := request.get("prompt_logprobs")) is not None:
            entries: list[Any] = [None]
            for i, token in enumerate(ids[1:], start=1):
                others = [(token + k) % 50000 for k in range(1, int(top) + 1)]
                entries.append(
                    {
                        str(t): {
                            "logprob": _logprob(t, i),
                            "rank": r,
                            "decoded_token": f"token_id:{t}" if by_id else "x",
                        }
                        for r, t in enumerate([token, *others], start=1)
                    }
                )
            choice["prompt_logprobs"] = entries
        if request.get("echo") and request.get("logprobs") is not None:
            values = [None] + [_logprob(t, i) for i, t in enumerate(ids[1:], start=1)]
            choice["logprobs"] = {
                "tokens": [f"token_id:{t}" for t in ids],
                "token_logprobs": values,
                "top_logprobs": [None]
                + [{f"token_id:{t}": v} for t, v in zip(ids[1:], values[1:], strict=True)],
                "text_offset": list(range(len(ids))),
            }
        return {
            "id": "cmpl-stub",
            "object": "text_completion",
            "created": 0,
            "model": self.model,
            "choices": [choice],
            "usage": {"prompt_tokens": len(ids), "completion_tokens": 1, "total_tokens": len(ids) + 1},
        }


async def _respond(send: Send, status: int, body: bytes, content_type: bytes = b"application/json") -> None:
    await send(
        {"type": "http.response.start", "status": status, "headers": [(b"content-type", content_type)]}
    )
    await send({"type": "http.response.body", "body": body})


async def _json(send: Send, payload: Any, status: int = 200) -> None:
    await _respond(send, status, json.dumps(payload).encode())


@contextlib.contextmanager
def running(
    service_time: float, batch_width: int = 256, *, served_name: str = "stub", api_key: str | None = None
) -> Iterator[str]:
    """The stub in a process of its own while the block runs; yields its base URL (`…/v1`)."""
    import httpx

    from runners.vllm_server import _free_port

    port = _free_port()
    command = [
        sys.executable, "-m", "bench.stub_server", "--port", str(port), "--service-time", str(service_time),
        "--batch-width", str(batch_width), "--served-model-name", served_name,
        *(["--api-key", api_key] if api_key else []),
    ]  # fmt: skip
    proc = subprocess.Popen(command)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the stub server did not start")
            time.sleep(0.1)
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        proc.terminate()
        proc.wait()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--service-time", type=float, default=1.0, help="seconds per request")
    parser.add_argument(
        "--batch-width", "--max-num-seqs", type=int, default=256, help="requests served at once"
    )
    parser.add_argument("--served-model-name", default="stub")
    parser.add_argument("--api-key", default=None)
    args, _ = parser.parse_known_args(argv)  # the rest of a `vllm serve` command line means nothing here
    import uvicorn

    app = StubServer(
        service_time=args.service_time,
        batch_width=args.batch_width,
        model=args.served_model_name,
        api_key=args.api_key,
    )
    uvicorn.run(
        app, host=args.host, port=args.port, log_level="warning", access_log=False,
        loop="uvloop", http="httptools", backlog=4096, timeout_keep_alive=60,
    )  # fmt: skip


if __name__ == "__main__":
    main()
