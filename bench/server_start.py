"""How long an embedded model's vLLM CPU server takes to answer, with given extra server flags.

    python -m bench.server_start smollm2-135m-instruct
    python -m bench.server_start smollm2-135m-instruct --enforce-eager

Starts the server as the tests serve it (`embedded_server_options`, max_model_len 2048), waits
until it answers, prints the seconds and stops it.
"""

from __future__ import annotations

import dataclasses
import sys
import time
from pathlib import Path

from runners.embedded_model import prepare_embedded_model
from runners.serving import embedded_server_options
from runners.vllm_server import serve

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    name, extra = sys.argv[1], " ".join(sys.argv[2:])
    path = prepare_embedded_model(REPO / ".evaljobs" / "models" / name, name=name)
    options = dataclasses.replace(embedded_server_options(path, 2048, name=name), extra_args=extra)
    start = time.monotonic()
    with serve(options, log=lambda _: None, timeout_s=900):
        print(f"{name} {extra or '(no extra flags)'}: answered after {time.monotonic() - start:.1f} s")


if __name__ == "__main__":
    main()
