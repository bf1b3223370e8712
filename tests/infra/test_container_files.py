"""What each Modal container receives: the file set its image's mounts would upload, asked of
Modal's own image objects, copied to a fresh folder and run there in a separate process.

Code that runs on Modal runs from an image, not from this source tree: a package file the image
leaves out (the UI, a schema, the catalog, a template) breaks the container, not these tests,
unless a test looks at exactly what the image ships.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import infra.modal_app as modal_app
from tests.support.rehearsal import container_files

REPO = Path(__file__).resolve().parents[2]
NEEDED = [
    "functions/ui/index.html",
    "functions/ui/app.js",
    "schemas/eval-job.schema.json",
    "schemas/completion-event.schema.json",
    "evaljobs/data/catalog.yaml",
    "runners/templates/base_model.jinja",
]


@pytest.mark.parametrize("image", ["api_image", "runner_image"])
def test_the_images_ship_the_package_files_the_code_reads(image: str) -> None:
    shipped = {str(p.relative_to("/root")) for p in container_files(getattr(modal_app, image))}
    missing = [name for name in NEEDED if name not in shipped]
    assert missing == [], f"{image} leaves out {missing}"
    assert not any("__pycache__" in name or name.endswith(".pyc") for name in shipped)


def test_the_api_app_starts_from_the_api_containers_files(tmp_path: Path) -> None:
    """The api container's files alone (no source tree) build the app and validate a job."""
    root = tmp_path / "root"
    for remote, local in container_files(modal_app.api_image).items():
        target = root / remote.relative_to("/root")
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(local, target)
    code = (
        "import os, evaljobs, functions.api as api;"
        "assert evaljobs.__file__.startswith(os.environ['CONTAINER_ROOT']), evaljobs.__file__;"
        "app = api.create_app();"
        "from evaljobs.validation import parse_job;"
        "parse_job({'model': {'api': {'model': 'openai/m'}}, 'benchmarks': ['boolq']});"
        "from evaljobs.catalog import get_catalog; assert get_catalog();"
        "print(sorted(r.path for r in app.routes if getattr(r, 'path', '').startswith('/ui'))[:1])"
    )
    env = {
        **os.environ,
        "PYTHONPATH": str(root),
        "CONTAINER_ROOT": str(root),
        "EVALJOBS_HOME": str(tmp_path / "home"),
    }
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "/ui" in done.stdout
