"""Where a job may send requests: the `base_url` of a hosted model or a grader.

Checked twice: at submit on the URL as written (`url_problem`), and in the runner on the
addresses its host resolves to (`resolved_problem`), since a name can point anywhere.
Link-local and cloud-metadata addresses are always refused; loopback only when the operator
allows it (`EVALJOBS_ALLOW_LOOPBACK`, on in the embedded default); any other host must match
one of the operator's patterns (`EVALJOBS_ALLOWED_HOSTS`: `*.example.com`, or `entity:pattern`
for one entity only).
"""

from __future__ import annotations

import ipaddress
import socket
from fnmatch import fnmatchcase
from urllib.parse import urlsplit

from evaljobs.settings import Settings

__all__ = ["allowed_host", "resolved_problem", "url_problem"]

_METADATA_HOSTS = {"metadata.google.internal", "metadata", "instance-data", "instance-data.ec2.internal"}
_METADATA_ADDRESSES = {
    ipaddress.ip_address("169.254.169.254"),  # AWS, GCP, Azure, OpenStack
    ipaddress.ip_address("169.254.170.2"),  # ECS task metadata
    ipaddress.ip_address("100.100.100.200"),  # Alibaba Cloud
    ipaddress.ip_address("fd00:ec2::254"),  # AWS over IPv6
}


def _address(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        address = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        return address.ipv4_mapped
    return address


def _metadata_problem(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str | None:
    if address in _METADATA_ADDRESSES or address.is_link_local:
        return "link-local and cloud metadata addresses are never reachable from a job"
    return None


def _address_problem(
    address: ipaddress.IPv4Address | ipaddress.IPv6Address, settings: Settings
) -> str | None:
    if problem := _metadata_problem(address):
        return problem
    if address.is_loopback or address.is_unspecified:
        return None if settings.allow_loopback else "loopback is not allowed on this deployment"
    return None


def allowed_host(host: str, entity: str, settings: Settings) -> bool:
    """True when the operator's patterns let `entity` reach `host` (names, not addresses)."""
    for pattern in filter(None, (p.strip() for p in settings.allowed_hosts.split(","))):
        scope, sep, glob = pattern.partition(":")
        if not sep:
            scope, glob = "", pattern
        if scope and scope != entity:
            continue
        if fnmatchcase(host.lower(), glob.lower()):
            return True
    return False


def url_problem(url: str, entity: str, settings: Settings, *, operator: bool = False) -> str | None:
    """Why `entity`'s job may not send requests to `url`, or None when it may. The operator's own
    jobs skip the host patterns and the loopback switch, never the metadata refusal."""
    parts = urlsplit(url)
    host = (parts.hostname or "").rstrip(".").lower()
    if parts.scheme not in ("http", "https") or not host:
        return "give an http(s) URL with a host"
    if parts.username or parts.password:
        return "credentials in the URL are not allowed; reference an api_key secret instead"
    if host in _METADATA_HOSTS:
        return "link-local and cloud metadata addresses are never reachable from a job"
    address = _address(host)
    if operator:
        return None if address is None else _metadata_problem(address)
    if address is not None:
        problem = _address_problem(address, settings)
        if problem or address.is_loopback or address.is_unspecified:
            return problem
    elif host == "localhost" or host.endswith(".localhost"):
        return None if settings.allow_loopback else "loopback is not allowed on this deployment"
    if allowed_host(host, entity, settings):
        return None
    return (
        f"host {host[:100]} is not on this deployment's allowed hosts (EVALJOBS_ALLOWED_HOSTS); "
        "ask the operator"
    )


def resolved_problem(url: str, settings: Settings) -> str | None:
    """Why the addresses `url`'s host resolves to may not be reached, or None (runner side)."""
    parts = urlsplit(url)
    host, port = parts.hostname or "", parts.port or (443 if parts.scheme == "https" else 80)
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        return f"cannot resolve {host[:100]}: {exc}"
    for info in infos:
        address = _address(str(info[4][0]))
        if address is not None and (problem := _address_problem(address, settings)):
            return f"{host[:100]} resolves to {address}: {problem}"
    return None
