"""Where the API lives: Holistics' regions, checking a given base URL, and which hosts are paced.

A base URL decides where the API key is sent, so it is checked before any request: plain http only to a
loopback host (the key would otherwise travel in clear text), and no credentials, query or fragment.
`is_loopback` is the one definition of "this machine" for the client and the sandbox alike.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from typing import Final
from urllib.parse import urlsplit

from reconciler.remote.client.errors import ConfigError

REGIONS: Final[Mapping[str, str]] = {
    "apac": "https://secure.holistics.io/api/v2",
    "eu": "https://eu.holistics.io/api/v2",
    "us": "https://us.holistics.io/api/v2",
}
DEFAULT_REGION: Final = "apac"
HOLISTICS_RATE_LIMIT = "120/60"  # reported per user; the spec gives no number


def default_rate_limit(base_url: str) -> str | None:
    """Holistics' own hosts are paced to stay under their reported quota; other hosts (the sandbox,
    a proxy) are not, and 429s are still honoured everywhere."""
    host = urlsplit(base_url).hostname or ""
    return HOLISTICS_RATE_LIMIT if host == "holistics.io" or host.endswith(".holistics.io") else None


def resolve_base_url(region: str | None, base_url: str | None) -> str:
    """The API root to use: `base_url` (full URL including /api/v2) wins over `region` (default apac).

    Plain http is refused unless the host is loopback, because the key would travel in clear text.
    """
    if base_url:
        return check_base_url(base_url.strip())
    name = (region or DEFAULT_REGION).strip().lower()
    try:
        return REGIONS[name]
    except KeyError:
        valid = ", ".join(REGIONS)
        raise ConfigError(f"unknown region {region!r}: use one of {valid}, or give a base URL") from None


def check_base_url(url: str) -> str:
    """`url` without a trailing slash, or ConfigError saying what is wrong with it."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"base URL {url!r} must be an absolute http(s) URL such as {REGIONS['apac']}")
    if parts.username or parts.password or parts.query or parts.fragment:
        raise ConfigError(
            f"base URL {parts.scheme}://{parts.hostname}/... must not carry credentials, a query or a fragment"
        )
    if parts.scheme == "http" and not is_loopback(parts.hostname):
        raise ConfigError(
            f"refusing plain http to {parts.hostname}: the API key would be sent unencrypted "
            "(http is allowed only for loopback hosts such as 127.0.0.1 or localhost)"
        )
    if not parts.path.rstrip("/").endswith("/api/v2"):
        # without it every request 404s, which would read as "schedule not found"
        raise ConfigError(f"base URL {url!r} must be the API root, ending in /api/v2 (e.g. {REGIONS['apac']})")
    return url.rstrip("/")


def is_loopback(host: str) -> bool:
    """True for "localhost" (any case) and any loopback address: 127.0.0.0/8, ::1, and IPv4-mapped
    IPv6 loopback such as ::ffff:127.0.0.1 (what a dual-stack socket reports for an IPv4 peer)."""
    if host.lower() == "localhost":
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped.is_loopback
    return address.is_loopback
