"""One container of the rehearsed Modal deployment: `python modal_standin.py ROLE ARGS…`.

Started by `tests.support.rehearsal` (and by the stand-in `spawn`, from inside the api and tick
containers) in a folder that holds only what the function's image and entrypoint mount would
upload, with only the environment its image and secrets give. Absolute paths in that environment
(`/data/evaljobs`, `/cache/models`) are the container's own, under its folder: the processes share
this machine's filesystem, so a path one container records names, in another, a file of the
first's (readers must not follow it there, and `evaljobs.stores.log_copies` does not). Before the
app module is imported, this process is made to look like a Modal container, in exactly these ways:

- `modal.is_local()` is False (the app's module then skips what only the deploying machine has);
- `MODAL_TASK_ID` names the container, for it and every process it starts, as on Modal (runners
  record it as their host: pids and paths repeat across containers, a host check must see that);
- `Volume.commit()` / `reload()` copy between the container's mount and the Volume's shared folder,
  so one container sees another's files only after a commit and a reload, as on Modal;
- `Cls.from_name(app, "Runner")().run.spawn(job)` starts a runner container process and returns a
  call whose id `current_function_call_id()` reports inside it (`Function.from_name(app,
  name).spawn(job)` a container of that function); `FunctionCall.from_id(id)` polls it
  (`get(timeout=0)`) and cancels it (InputCancellation raised inside the runner, as Modal does).

Roles: `api PORT` (uvicorn on the asgi app), `tick` (the cron function once), `run CALL_ID JOB_ID`
(the Runner's lifecycle: enter, run, exit, as Modal drives it), `call FUNCTION CALL_ID JOB_ID
ARGS…` (a plain function's call). Stdlib and modal only: the
container's own code comes from its folder, never from the source tree.
"""

from __future__ import annotations

import importlib
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import uuid
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve()


def deployment() -> dict[str, Any]:
    return dict(json.loads(Path(os.environ["STANDIN_DEPLOYMENT"]).read_text()))


# ---- containers -------------------------------------------------------------------------------


def _reroot(value: str, root: Path) -> str:
    """An absolute path inside the container, as a path in the container's folder."""
    return str(root / value.lstrip("/")) if value.startswith("/") else value


def _copy_tree(source: Path, target: Path) -> None:
    """Copy every file of `source` over `target`, each replaced whole (a reader never sees half)."""
    for path in sorted(source.rglob("*")) if source.is_dir() else []:
        destination = target / path.relative_to(source)
        if path.is_dir() and not path.is_symlink():
            destination.mkdir(parents=True, exist_ok=True)
            continue
        destination.parent.mkdir(parents=True, exist_ok=True)
        partial = destination.with_name(f".{destination.name}.{uuid.uuid4().hex[:6]}")
        shutil.copy2(path, partial, follow_symlinks=False)
        os.replace(partial, destination)


def start_container(
    function: str, args: list[str], name: str | None = None
) -> tuple[str, subprocess.Popen[bytes]]:
    """A fresh container of `function` (its image's files, its Volumes as last committed, its
    environment) running this file with `args`; returns its name and process."""
    dep = deployment()
    fn = dep["functions"][function]
    name = name or f"{function.lower()}-{uuid.uuid4().hex[:8]}"
    root = Path(dep["containers_dir"]) / name
    shutil.copytree(fn["image_dir"], root, symlinks=True)
    volumes = {}
    for mount, volume in fn["volumes"].items():
        view = root / mount.lstrip("/")
        view.mkdir(parents=True, exist_ok=True)
        _copy_tree(Path(dep["volumes_dir"]) / volume, view)
        volumes[volume] = str(view)
    env = {key: _reroot(value, root) for key, value in fn["env"].items()}
    env.update(dep["standins"])  # the stand-ins for what is unreachable here (named in the harness)
    env.update(
        {
            "PATH": os.environ["PATH"],
            "HOME": str(root / "home"),
            "PYTHONPATH": str(root),
            "MODAL_TASK_ID": name,
            "STANDIN_CONTAINER": name,
            "STANDIN_ROOT": str(root),
            "STANDIN_VOLUMES": json.dumps(volumes),
            "STANDIN_DEPLOYMENT": os.environ["STANDIN_DEPLOYMENT"],
        }
    )
    log = (Path(dep["containers_dir"]) / f"{name}.log").open("ab")
    proc = subprocess.Popen(
        [sys.executable, str(HERE), *args], cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT
    )
    threading.Thread(target=proc.wait, daemon=True).start()  # reaped when it ends: no zombie looks alive
    return name, proc


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, IndexError):
        return False
    return state not in ("Z", "X")


def kill_container(name: str) -> int:
    """SIGKILL every process of the container (the runner, the vLLM server it started in a
    session of its own, vLLM's engine processes): what a preempted or OOM-killed container's
    end looks like. A process is the container's when it runs in the container's folder
    (vLLM's `setproctitle` overwrites the environment a marker would be read from)."""
    root = Path(deployment()["containers_dir"]) / name
    killed = 0
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        try:
            if Path(os.readlink(proc / "cwd")).is_relative_to(root):
                os.kill(int(proc.name), signal.SIGKILL)
                killed += 1
        except (FileNotFoundError, PermissionError, ProcessLookupError):
            continue
    return killed


# ---- calls --------------------------------------------------------------------------------------


def _call_file(call_id: str, suffix: str) -> Path:
    return Path(deployment()["calls_dir"]) / f"{call_id}.{suffix}"


def spawn_runner(job_id: str, call_id: str | None = None) -> str:
    """Start `Runner.run(job_id)` in a new container; `call_id` given: Modal re-running that input."""
    call_id = call_id or f"fc-{uuid.uuid4().hex[:16]}"
    name, proc = start_container("Runner", ["run", call_id, job_id])
    _call_file(call_id, "json").write_text(json.dumps({"container": name, "pid": proc.pid, "job": job_id}))
    return call_id


class _Call:
    def __init__(self, call_id: str) -> None:
        self.object_id = call_id

    def get(self, timeout: float | None = None) -> Any:
        import modal.exception

        result = _call_file(self.object_id, "result")
        if result.exists():
            done = json.loads(result.read_text())
            if "error" in done:
                raise modal.exception.RemoteError(done["error"])
            return done["value"]
        call = json.loads(_call_file(self.object_id, "json").read_text())
        if alive(call["pid"]):
            raise TimeoutError()  # what Modal's poll raises while the input runs (the builtin)
        if _call_file(self.object_id, "result").exists():
            return self.get(timeout)
        raise modal.exception.ExecutionError(f"container {call['container']} exited without a result")

    def cancel(self, terminate_containers: bool = False) -> None:
        call = json.loads(_call_file(self.object_id, "json").read_text())
        if alive(call["pid"]):
            os.kill(call["pid"], signal.SIGUSR1)  # → InputCancellation inside the input


def spawn_function(function: str, job_id: str, *args: str) -> str:
    """Start a call of plain function `function(job_id, *args)` in a new container of its own."""
    call_id = f"fc-{uuid.uuid4().hex[:16]}"
    name, proc = start_container(function, ["call", function, call_id, job_id, *args])
    record = {"container": name, "pid": proc.pid, "job": job_id, "function": function, "args": list(args)}
    _call_file(call_id, "json").write_text(json.dumps(record))
    return call_id


class _Method:
    def spawn(self, job_id: str) -> _Call:
        return _Call(spawn_runner(job_id))


class _Function:
    def __init__(self, name: str) -> None:
        self.name = name

    @staticmethod
    def from_name(app_name: str, name: str, **_: Any) -> _Function:
        assert app_name == os.environ.get("EVALJOBS_MODAL_APP", "evaljobs"), app_name
        assert name in deployment()["functions"], f"the app has no function {name}"
        return _Function(name)

    def spawn(self, job_id: str, *args: str) -> _Call:
        return _Call(spawn_function(self.name, job_id, *args))


class _RunnerHandle:
    run = _Method()


class _Cls:
    @staticmethod
    def from_name(app_name: str, name: str, **_: Any) -> Any:
        assert name == "Runner", name
        assert app_name == os.environ.get("EVALJOBS_MODAL_APP", "evaljobs"), app_name
        return _RunnerHandle


class _FunctionCall:
    @staticmethod
    def from_id(call_id: str, **_: Any) -> _Call:
        return _Call(call_id)


# ---- inside a container -------------------------------------------------------------------------


def _volume_folders(volume: Any) -> tuple[Path, Path]:
    from modal._utils.async_utils import synchronizer

    name = synchronizer._translate_in(volume)._name
    view = json.loads(os.environ["STANDIN_VOLUMES"])[name]
    return Path(view), Path(deployment()["volumes_dir"]) / name


def _commit(volume: Any) -> None:
    view, shared = _volume_folders(volume)
    _copy_tree(view, shared)


def _reload(volume: Any) -> None:
    view, shared = _volume_folders(volume)
    _copy_tree(shared, view)


def become_container() -> None:
    """Make this process look like a Modal container (see the module docstring)."""
    import modal
    import modal.exception

    sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE.parent]
    modal.is_local = lambda: False
    modal.Volume.commit = _commit  # type: ignore[method-assign]
    modal.Volume.reload = _reload  # type: ignore[method-assign]
    modal.Cls.from_name = _Cls.from_name  # type: ignore[method-assign]
    modal.FunctionCall.from_id = _FunctionCall.from_id  # type: ignore[method-assign]
    modal.Function.from_name = _Function.from_name  # type: ignore[method-assign,assignment]

    def cancelled(signum: int, frame: Any) -> None:
        raise modal.exception.InputCancellation("cancelled by the stand-in FunctionCall.cancel()")

    signal.signal(signal.SIGUSR1, cancelled)
    evaljobs = importlib.import_module("evaljobs")
    root = os.environ["STANDIN_ROOT"]
    assert str(evaljobs.__file__).startswith(root), f"code came from {evaljobs.__file__}, not the container"


def _run(call_id: str, job_id: str) -> None:
    import modal_app  # type: ignore[import-not-found]
    from modal._runtime.execution_context import _set_current_context_ids
    from modal._utils.async_utils import synchronizer

    _set_current_context_ids([f"in-{call_id}"], [call_id], [f"at-{uuid.uuid4().hex[:8]}"])
    runner = modal_app.Runner()
    try:
        value = runner.run.local(job_id)  # enter hooks, then the method: Modal's own local path
        done: dict[str, Any] = {"value": value}
    except BaseException as exc:
        done = {"error": f"{type(exc).__name__}: {exc}"}
        raise
    finally:
        obj = synchronizer._translate_in(runner)
        instance = obj._cached_user_cls_instance()
        from modal._partial_function import _find_callables_for_obj, _PartialFunctionFlags

        for exit_method in _find_callables_for_obj(instance, _PartialFunctionFlags.EXIT).values():
            exit_method()
        _call_file(call_id, "result").write_text(json.dumps(done))


def _call(function: str, call_id: str, job_id: str, *args: str) -> None:
    import modal_app  # type: ignore[import-not-found]

    try:
        done: dict[str, Any] = {"value": getattr(modal_app, function).local(job_id, *args)}
    except BaseException as exc:
        done = {"error": f"{type(exc).__name__}: {exc}"}
        raise
    finally:
        _call_file(call_id, "result").write_text(json.dumps(done))


def main(argv: list[str]) -> None:
    become_container()
    role, *args = argv
    if role == "api":
        import modal_app  # type: ignore[import-not-found]
        import uvicorn

        uvicorn.run(modal_app.api.local(), host="127.0.0.1", port=int(args[0]), log_level="warning")
    elif role == "tick":
        import modal_app  # type: ignore[import-not-found]

        print(json.dumps(modal_app.tick.local()), flush=True)
    elif role == "run":
        _run(*args)
    elif role == "call":
        _call(*args)
    else:
        raise SystemExit(f"unknown role {role}")


if __name__ == "__main__":
    main(sys.argv[1:])
