"""What a test's job submission may reach: the operator's CLI with an environment of secrets."""

from __future__ import annotations

from collections.abc import Mapping

from evaljobs.tenancy import Access


def cli(env: Mapping[str, str] | None = None) -> Access:
    """The operator's single-user CLI with `secrets_from_env`: secrets from `env`, any local folder."""
    return Access(env=dict(env or {}), operator=True)
