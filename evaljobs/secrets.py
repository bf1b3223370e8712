"""Secrets by reference: `secret://NAME` resolves to an environment variable or a secrets file.

Values never leave this module except to the process that needs them (an inspect-ai
provider, the HF client); `redact` scrubs them from anything written down.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from pathlib import Path

from dotenv import dotenv_values

from evaljobs.errors import SecretError

__all__ = ["check_secret", "redact", "ref_name", "resolve", "secret_available"]

_PREFIX = "secret://"


_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")
MAX_VALUE_BYTES = 64 * 1024


def check_secret(name: str, value: str | None = None) -> None:
    """A storable secret: a name like an environment variable's, a value of at most 64 KiB."""
    if not _NAME.match(name):
        raise SecretError(
            "a secret name is letters, digits and _ (not starting with a digit), at most 128 characters"
        )
    if value is not None and not value:
        raise SecretError(f"secret {name} is empty; give its value")
    if value is not None and len(value.encode()) > MAX_VALUE_BYTES:
        raise SecretError(f"secret {name} is over 64 KiB")


def ref_name(ref: str) -> str:
    """`secret://NAME` → `NAME`."""
    if not ref.startswith(_PREFIX):
        raise SecretError(f"{ref!r} is not a secret reference; write it as secret://NAME")
    return ref[len(_PREFIX) :]


def _file_values(path: Path | None) -> dict[str, str]:
    if path is None or not path.exists():
        return {}
    # `$` in a secret is literal; a bare `NAME` line (no `=`) sets nothing
    values = dotenv_values(path, interpolate=False)
    return {key: value for key, value in values.items() if value is not None}


def _lookup(name: str, env: Mapping[str, str] | None, secrets_file: Path | None) -> str | None:
    env = os.environ if env is None else env
    return env.get(name) or _file_values(secrets_file).get(name)


def secret_available(
    ref: str, env: Mapping[str, str] | None = None, secrets_file: Path | None = None
) -> bool:
    """True when the reference resolves to a non-empty value."""
    return _lookup(ref_name(ref), env, secrets_file) is not None


def resolve(ref: str, env: Mapping[str, str] | None = None, secrets_file: Path | None = None) -> str:
    """The value behind `secret://NAME`, or SecretError saying how to provide it."""
    name = ref_name(ref)
    value = _lookup(name, env, secrets_file)
    if value is None:
        raise SecretError(f"secret {name} is not set: export {name}=… (or add it to EVALJOBS_SECRETS_FILE)")
    return value


def redact(text: str, values: Iterable[str]) -> str:
    """Replace every secret value in `text` with `***`."""
    for value in sorted({v for v in values if v and len(v) >= 4}, key=len, reverse=True):
        text = text.replace(value, "***")
    return text
