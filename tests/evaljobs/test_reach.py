"""Where a job may send requests: metadata and link-local never, loopback when allowed, other
hosts only by the operator's patterns (globally or for one entity)."""

from __future__ import annotations

import pytest

from evaljobs.reach import resolved_problem, url_problem
from evaljobs.settings import Settings

SHARED = Settings(
    allowed_hosts="api.openai.com,*.together.xyz,team-a:models.team-a.example", allow_loopback=False
)
EMBEDDED = Settings()


@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254/latest/meta-data/",
        "http://[fe80::1]/v1",
        "http://[::ffff:169.254.169.254]/v1",
        "http://metadata.google.internal/computeMetadata/v1/",
        "http://100.100.100.200/",
        "http://[fd00:ec2::254]/",
    ],
)
def test_metadata_and_link_local_are_refused_everywhere(url: str) -> None:
    for settings in (SHARED, EMBEDDED, Settings(allowed_hosts="*", allow_loopback=True)):
        assert "never reachable" in (url_problem(url, "team-a", settings) or "")


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:8000/v1", "http://localhost/v1", "http://[::1]/v1", "http://0.0.0.0/"]
)
def test_loopback_only_when_allowed(url: str) -> None:
    assert url_problem(url, "team-a", EMBEDDED) is None
    assert "loopback is not allowed" in (url_problem(url, "team-a", SHARED) or "")


def test_other_hosts_by_pattern_globally_or_per_entity() -> None:
    assert url_problem("https://api.openai.com/v1", "team-b", SHARED) is None
    assert url_problem("https://eu.together.xyz/v1", "team-b", SHARED) is None
    assert url_problem("https://models.team-a.example/v1", "team-a", SHARED) is None
    assert "not on this deployment's allowed hosts" in (
        url_problem("https://models.team-a.example/v1", "team-b", SHARED) or ""
    )
    assert url_problem("http://attacker.example/v1", "team-a", EMBEDDED) is not None
    assert "credentials" in (url_problem("https://u:p@api.openai.com/v1", "team-a", SHARED) or "")


def test_the_runner_checks_what_a_name_resolves_to() -> None:
    # `localhost` is a name: the runner looks at its addresses
    assert resolved_problem("http://localhost:9/v1", EMBEDDED) is None
    assert "loopback is not allowed" in (resolved_problem("http://localhost:9/v1", SHARED) or "")
    assert "never reachable" in (resolved_problem("http://169.254.169.254/", EMBEDDED) or "")
