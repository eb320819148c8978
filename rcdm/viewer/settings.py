"""The viewer's site settings (frozen) and what follows from them for one request: the client's address
(``X-Forwarded-For`` believed only from configured proxies) and whether the request came over https.

``allowed_hosts``: the ``Host`` names the viewer answers (anything else gets 400: DNS rebinding and poisoned
absolute links need a foreign Host). ``trusted_proxies``: addresses or networks of reverse proxies whose
``X-Forwarded-For`` / ``X-Forwarded-Proto`` headers are believed; from any other peer they are ignored, so a
client cannot choose the address the login throttle counts. ``https``: the viewer is reached over TLS (directly
or through a proxy): cookies are ``Secure`` and every answer carries ``Strict-Transport-Security``.
``min_cell_count``: counts below it are hidden from ``aggregate`` users (see ``rcdm.viewer.privacy``).
``cache_seconds``: how long the page aggregates are kept in memory. ``ViewerTables``: where the viewer reads.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, field

from rcdm.errors import UsageError
from rcdm.viewer.throttle import ThrottleSettings

LOCAL_HOSTS: tuple[str, ...] = ("localhost", "127.0.0.1", "::1")
"""The default ``allowed_hosts``: the viewer is reachable only as itself on this machine until told otherwise."""

DEFAULT_MIN_CELL_COUNT = 5
"""OHDSI's customary minimum cell count (counts 1 to 4 are hidden)."""


@dataclass(frozen=True)
class ViewerTables:
    """Where the viewer reads besides the CDM schema (None: the CDM schema)."""

    vocabulary_schema: str | None = None
    """Schema of the OMOP concept table."""
    cohort_schema: str | None = None
    """Schema of the cohort table."""
    cohort_table: str = "cohort"
    results_schema: str | None = None
    """Schema of the stored summary tables (``rcdm viewer build-summary``)."""


@dataclass(frozen=True)
class ViewerSettings:
    """Site settings of a viewer (see the module docstring); ``check()`` validates them."""

    allowed_hosts: tuple[str, ...] = LOCAL_HOSTS
    trusted_proxies: tuple[str, ...] = ()
    https: bool = False
    hsts_seconds: int = 365 * 24 * 3600
    min_cell_count: int = DEFAULT_MIN_CELL_COUNT
    max_parallel_hashes: int = 2
    max_waiting_logins: int = 32
    max_anonymous_sessions: int = 2_000
    anonymous_idle_seconds: int = 15 * 60
    throttle: ThrottleSettings = field(default_factory=ThrottleSettings)
    cache_seconds: float = 300.0

    def check(self) -> ViewerSettings:
        if not self.allowed_hosts or any(not h or h != h.strip() for h in self.allowed_hosts):
            raise UsageError("allowed hosts: give at least one host name (or '*' for any, not recommended).")
        if not isinstance(self.min_cell_count, int) or self.min_cell_count < 1:
            raise UsageError(f"Invalid minimum cell count {self.min_cell_count!r}: give a whole number >= 1.")
        if self.max_parallel_hashes < 1 or self.max_anonymous_sessions < 1 or self.anonymous_idle_seconds < 1:
            raise UsageError("max parallel hashes, anonymous sessions and their idle time must be >= 1.")
        self.proxy_networks()
        return self

    def proxy_networks(self) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
        try:
            return tuple(ipaddress.ip_network(p.strip(), strict=False) for p in self.trusted_proxies)
        except ValueError as exc:
            raise UsageError(f"Invalid trusted proxy: {exc} (give addresses or networks, e.g. 10.0.0.5 or "
                             "10.0.0.0/8)") from None

    def host_patterns(self) -> list[str]:
        """``allowed_hosts`` as Starlette's TrustedHostMiddleware wants them (IPv6 addresses bracketed)."""
        out = []
        for host in self.allowed_hosts:
            out.append(host)
            if ":" in host and not host.startswith("["):
                out.append(f"[{host}]")
        return out


def _ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    text = text.strip()
    if text.startswith("[") and "]" in text:  # [v6]:port
        text = text[1:text.index("]")]
    elif text.count(":") == 1:  # v4:port
        text = text.split(":")[0]
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def _trusted(address: str, networks) -> bool:
    ip = _ip(address)
    return ip is not None and any(ip in n for n in networks)


def client_address(peer: str | None, headers: Mapping[str, str], settings: ViewerSettings) -> str:
    """The address a request comes from: the TCP peer, or, when the peer is a trusted proxy, the right-most
    address of ``X-Forwarded-For`` that is not itself a trusted proxy (the left part is client-written)."""
    peer = peer or "?"
    networks = settings.proxy_networks()
    if not networks or not _trusted(peer, networks):
        return peer
    chain = [a.strip() for a in headers.get("x-forwarded-for", "").split(",") if a.strip()]
    for hop in reversed(chain):
        ip = _ip(hop)
        if ip is None:
            return peer  # garbage in the proxy's own part of the header: count the proxy, not a made-up name
        if not any(ip in n for n in networks):
            return str(ip)
    return str(_ip(chain[0])) if chain else peer


def is_https(scheme: str, peer: str | None, headers: Mapping[str, str], settings: ViewerSettings) -> bool:
    """Whether the browser talks https: the setting, the request's own scheme, or a trusted proxy's
    ``X-Forwarded-Proto``."""
    if settings.https or scheme == "https":
        return True
    networks = settings.proxy_networks()
    if networks and _trusted(peer or "?", networks):
        return headers.get("x-forwarded-proto", "").split(",")[-1].strip().lower() == "https"
    return False


__all__ = ["DEFAULT_MIN_CELL_COUNT", "LOCAL_HOSTS", "ViewerSettings", "client_address", "is_https"]
