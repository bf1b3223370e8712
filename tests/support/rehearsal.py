"""A rehearsal of the Modal deployment (infra/modal_app.py) on this machine.

Everything about each container is asked of the app's own Modal objects, not restated: the file
set (its image's local mounts plus the function's entrypoint mount, as `modal deploy
infra/modal_app.py` uploads them), the environment (the image's ENV layers, then its secrets'
keys), the Volumes and where they mount. Each container is then a separate process in a folder
of its own (`tests/support/modal_standin.py` makes it look like a Modal container); Volumes are
folders shared only through commit and reload; state is on moto's AWS server.

What stands in for the unreachable, and only that, is named in `STANDINS`.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from types import ModuleType
from typing import Any

from tests.support import modal_standin

REPO = Path(__file__).resolve().parents[2]
APP_FILE = REPO / "infra" / "modal_app.py"


def load_app() -> ModuleType:
    """The app module as `modal deploy infra/modal_app.py` imports it: a file named `modal_app`."""
    spec = importlib.util.spec_from_file_location("modal_app", APP_FILE)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["modal_app"] = module
    spec.loader.exec_module(module)
    return module


def _impl(obj: object) -> Any:
    from modal._utils.async_utils import synchronizer

    return synchronizer._translate_in(obj)


def _mounts(obj: Any, seen: set[int]) -> Iterator[Any]:
    """The local mounts an image depends on (Modal attaches them lazily, through `_deps`)."""
    from modal.mount import _Mount

    if id(obj) in seen:
        return
    seen.add(id(obj))
    for dep in obj._deps() if getattr(obj, "_deps", None) else []:
        if isinstance(dep, _Mount):
            yield dep
        yield from _mounts(dep, seen)


def _mount_files(mount: Any) -> dict[PurePosixPath, Path]:
    return {
        PurePosixPath(remote): Path(local)
        for entry in mount.entries
        for local, remote in entry.get_files_to_upload()
    }


def container_files(image: object) -> dict[PurePosixPath, Path]:
    """Remote path → local file, for every file the image's local mounts would upload."""
    files: dict[PurePosixPath, Path] = {}
    for mount in _mounts(_impl(image), set()):
        files.update(_mount_files(mount))
    return files


def _closure(fn: Any) -> dict[str, Any]:
    return {
        name: cell.cell_contents
        for name, cell in zip(fn.__code__.co_freevars, fn.__closure__ or (), strict=True)
    }


def image_env(image: object) -> dict[str, str]:
    """The ENV directives of the image's layers, base first (Modal builds them into the image)."""
    import shlex

    def commands(layer: Any) -> list[str]:
        cells = _closure(layer._load)
        bases = [
            *(cells.get("base_images") or {}).values(),
            *([cells["base_image"]] if "base_image" in cells else []),
        ]
        found = [command for base in bases for command in commands(base)]
        if build := cells.get("dockerfile_function"):
            found += build("2025.06").commands
        return found

    env: dict[str, str] = {}
    for command in commands(_impl(image)):
        if command.startswith("ENV "):
            key, _, value = command.removeprefix("ENV ").partition("=")
            env[key] = shlex.split(value)[0] if value else ""
    return env


@dataclass
class Function:
    """What a deployed function's container gets."""

    name: str
    image: object
    files: dict[PurePosixPath, Path]
    env: dict[str, str]
    secrets: list[str]
    volumes: dict[str, str] = field(default_factory=dict)
    """Mount path → Volume name."""


def functions(app: ModuleType) -> list[Function]:
    """The app's containers: `api`, `tick`, `finish` and the `Runner` class's service function."""
    found = []
    for name, fn in [
        ("api", app.api),
        ("tick", app.tick),
        ("finish", app.finish),
        ("Runner", _impl(app.Runner)._class_service_function),
    ]:
        impl = _impl(fn)
        spec = impl._spec_
        image = spec.image
        files = container_files(image)
        for mount in impl._source_info.get_entrypoint_mount().values():
            files.update(_mount_files(mount))
        found.append(
            Function(
                name=name,
                image=image,
                files=files,
                env=image_env(image),
                secrets=[secret._name for secret in spec.secrets],
                volumes={str(path): volume._name for path, volume in spec.volumes.items()},
            )
        )
    return found


class Rehearsal:
    """The deployed app as processes in `root`: containers, Volumes, calls."""

    def __init__(self, root: Path, secrets: dict[str, dict[str, str]], standins: dict[str, str]) -> None:
        self.root = root
        self.app = load_app()
        self.functions = {fn.name: fn for fn in functions(self.app)}
        for sub in ("images", "containers", "volumes", "calls"):
            (root / sub).mkdir(parents=True, exist_ok=True)
        described: dict[str, Any] = {}
        for fn in self.functions.values():
            missing = [name for name in fn.secrets if name not in secrets]
            assert not missing, f"{fn.name} needs Modal secrets {missing}"
            image_dir = root / "images" / fn.name
            for remote, local in fn.files.items():
                target = image_dir / remote.relative_to("/root")
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(local, target)
            env = dict(fn.env)
            for name in fn.secrets:
                env.update(secrets[name])
            described[fn.name] = {"image_dir": str(image_dir), "env": env, "volumes": fn.volumes}
        self.deployment = root / "deployment.json"
        self.deployment.write_text(
            json.dumps(
                {
                    "functions": described,
                    "standins": standins,
                    "containers_dir": str(root / "containers"),
                    "volumes_dir": str(root / "volumes"),
                    "calls_dir": str(root / "calls"),
                }
            )
        )
        os.environ["STANDIN_DEPLOYMENT"] = str(self.deployment)

    def volume(self, name: str) -> Path:
        """The shared (committed) side of a Volume."""
        path = self.root / "volumes" / name
        path.mkdir(parents=True, exist_ok=True)
        return path

    def start_api(self, port: int) -> tuple[str, subprocess.Popen[bytes]]:
        return modal_standin.start_container("api", ["api", str(port)], name="api-0")

    def tick(self) -> list[str]:
        """Run the cron function once in a fresh container; its return value."""
        name, proc = modal_standin.start_container("tick", ["tick"])
        assert proc.wait(300) == 0, self.container_log(name)
        return list(json.loads(self.container_log(name).strip().splitlines()[-1]))

    def container_log(self, name: str) -> str:
        return (self.root / "containers" / f"{name}.log").read_text(errors="replace")

    def call(self, call_id: str) -> dict[str, Any]:
        """The spawned call: its container, pid and job."""
        return {"id": call_id, **json.loads((self.root / "calls" / f"{call_id}.json").read_text())}

    def call_result(self, call_id: str) -> dict[str, Any] | None:
        """What the call's input returned (`value`) or raised (`error`); None while it runs."""
        path = self.root / "calls" / f"{call_id}.result"
        return dict(json.loads(path.read_text())) if path.exists() else None

    def preempt(self, call_id: str) -> str:
        """What Modal does to a preempted input: its container dies (SIGKILL) and the same input,
        with the same call id, starts again in a new container. Returns the new container's name."""
        call = self.call(call_id)
        assert modal_standin.kill_container(call["container"]) >= 2, "the runner and its vLLM server"
        modal_standin.spawn_runner(call["job"], call_id)
        return str(self.call(call_id)["container"])

    def stop(self) -> None:
        """Every container of the deployment ends (as `modal app stop` would have them)."""
        for log in (self.root / "containers").glob("*.log"):
            modal_standin.kill_container(log.stem)
        os.environ.pop("STANDIN_DEPLOYMENT", None)
