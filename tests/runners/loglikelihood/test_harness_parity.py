"""evaljobs' log-likelihood scoring against lm-evaluation-harness on the same real vLLM server.

The harness runs its own task configs (pointed at the dataset mirror), with `local-completions`
and `add_bos_token=True`; evaljobs runs its tasks through inspect-ai. Both see the same
documents; the comparison says where they part (prompt, BOS, boundary, values, normalisation).
"""

from pathlib import Path
from typing import Any

import pytest

from bench.harness import Server, _token_diagnosis, compare, run_evaljobs, run_harness
from runners.datasets_source import activate

pytestmark = pytest.mark.vllm

LIMITS = {"arc_easy": 20, "piqa": 20, "boolq": 20, "truthfulqa_mc2": 6}
TOLERANCE = 1e-4
"""Per-choice log-likelihoods may differ by this much (nats). Measured: 0.0 on every document."""


def test_picks_and_loglikelihoods_match_the_harness(
    server: Any, embedded_model: Path, datasets_dir: Path, tmp_path: Path
) -> None:
    activate(datasets_dir)
    srv = Server(server.base_url, server.model, server.api_key, str(embedded_model))
    for name, limit in LIMITS.items():
        theirs = run_harness(srv, [name], limit, concurrency=8)[name]
        ours = run_evaljobs(srv, [name], limit, 8, tmp_path)[name]
        result = compare(name, theirs, ours, srv, tolerance=TOLERANCE)
        assert not result.problems, f"{name}: " + "\n".join(result.problems)
        assert result.docs == limit and result.max_ll_diff <= TOLERANCE
        metrics = ["acc"] if name in ("boolq", "truthfulqa_mc2") else ["acc", "acc_norm"]
        assert result.agree == dict.fromkeys(metrics, limit)
        assert _token_diagnosis(srv, ours.docs[0].pairs) == ""  # the same token ids, BOS first
