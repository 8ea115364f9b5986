"""Browser hardening of the hub: security headers, HTTPS detection, Secure cookies, the client's address.

Every answer but the station protocol's gets a Content-Security-Policy (no script at all; the one
inline style sheet allowed by its hash), ``X-Frame-Options: DENY``, ``X-Content-Type-Options:
nosniff``, ``Referrer-Policy: no-referrer`` and ``Cache-Control: no-store`` (unless the handler set
its own). When the request reached the hub over HTTPS, directly (``hub serve --tls-cert``) or through
a proxy the operator named as trusted (``hub serve --trusted-proxy``, ``HUB_TRUSTED_PROXIES``), it
also gets ``Strict-Transport-Security`` and every cookie is marked ``Secure``.

The station protocol (``/api/v1/sync*``, ``/api/v1/enroll``, ``/healthz``) is left alone: a browser
never renders it, and a village link on 2G pays for every header byte (docs/protocol.md, "Exchange").

Forwarded headers (``X-Forwarded-For``, ``X-Forwarded-Proto``) are believed only when the peer is a
trusted proxy; by default none is. :func:`client_address` is the one place the hub reads a client's
address (audit log, login and enrolment throttles).
"""

from __future__ import annotations

import base64
import functools
import hashlib
import ipaddress
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from litestar.connection import ASGIConnection
from litestar.middleware import ASGIMiddleware
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from sync.errors import InputError

__all__ = (
    "HSTS",
    "PROTOCOL_PATHS",
    "SecurityHeadersMiddleware",
    "client_address",
    "content_security_policy",
    "is_https",
    "parse_trusted_proxies",
    "security_headers",
)

TEMPLATES = Path(__file__).parent / "templates"
PROTOCOL_PATHS = ("/api/v1/sync", "/api/v1/scans", "/api/v1/enroll", "/healthz")
"""Path prefixes of what stations call: no browser headers there (bytes on a village link)."""
HSTS = "max-age=31536000"
"""One year; no ``includeSubDomains``: other county services may live on sibling names without TLS."""

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
_STYLE = re.compile(r"<style>(.*?)</style>", re.DOTALL)


def _style_hashes() -> list[str]:
    # The templates' <style> blocks are plain text (no Jinja inside), so the rendered block is the
    # file's block: its hash is known at start and the CSP can allow exactly it, and no other style.
    blocks = [
        block for path in sorted(TEMPLATES.glob("*.j2")) for block in _STYLE.findall(path.read_text(encoding="utf-8"))
    ]
    return [f"'sha256-{base64.b64encode(hashlib.sha256(b.encode()).digest()).decode()}'" for b in blocks]


@functools.cache
def content_security_policy() -> str:
    """The CSP of every page and API answer: nothing loads but the pages' own style sheet; no framing."""
    styles = " ".join(_style_hashes()) or "'none'"
    return (
        f"default-src 'none'; style-src {styles}; img-src 'self'; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    )


def parse_trusted_proxies(values: Iterable[str]) -> tuple[Network, ...]:
    """Addresses or networks (``10.0.0.5``, ``10.0.0.0/24``, ``::1``) whose forwarded headers are believed.

    Raises:
        InputError: an entry is neither an IP address nor a network.
    """
    networks = []
    for value in values:
        text = value.strip()
        if not text:
            continue
        try:
            networks.append(ipaddress.ip_network(text, strict=False))
        except ValueError:
            raise InputError(
                zh=f"可信代理 {text!r} 不是 IP 地址或网段（例如 127.0.0.1、10.0.0.0/24）",
                en=f"trusted proxy {text!r} is not an IP address or network (e.g. 127.0.0.1, 10.0.0.0/24)",
                field="trusted_proxy",
            ) from None
    return tuple(networks)


@functools.lru_cache(maxsize=8)
def _trusted(values: tuple[str, ...]) -> tuple[Network, ...]:
    return parse_trusted_proxies(values)


def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        address = ipaddress.ip_address(text.strip())
    except ValueError:
        return None
    # An IPv4 peer on a dual-stack socket arrives as ::ffff:a.b.c.d; compare it as IPv4.
    mapped = getattr(address, "ipv4_mapped", None)
    return mapped or address


def _is_trusted(text: str, trusted: tuple[Network, ...]) -> bool:
    address = _address(text) if trusted else None
    return address is not None and any(address in network for network in trusted)


def _header(scope: Scope, name: bytes) -> str | None:
    # Several lines of one header count as one comma-separated list (RFC 9110, 5.3).
    values = [v.decode("latin-1") for k, v in scope.get("headers", []) if k.lower() == name]
    return ",".join(values) if values else None


def _peer(scope: Scope) -> str:
    client = scope.get("client")
    return client[0] if client else ""


def _trusted_of(connection: ASGIConnection[Any, Any, Any, Any]) -> tuple[Network, ...]:
    return _trusted(tuple(connection.app.state["settings"].trusted_proxies))


def _client_of(scope: Scope, trusted: tuple[Network, ...]) -> str:
    peer = _peer(scope)
    forwarded = _header(scope, b"x-forwarded-for")
    if forwarded is None or not _is_trusted(peer, trusted):
        return peer
    # Each proxy appends the address it saw: read from the right, skip our own proxies, and the first
    # address not ours is the client (anything left of it was written by the client and is not believed).
    client = peer
    for hop in reversed([part.strip() for part in forwarded.split(",")]):
        address = _address(hop)
        if address is None:
            break  # a malformed entry: keep the last address a trusted hop vouched for
        client = str(address)
        if not _is_trusted(client, trusted):
            break
    return client


def _https_of(scope: Scope, trusted: tuple[Network, ...]) -> bool:
    if scope.get("scheme") == "https":
        return True
    proto = _header(scope, b"x-forwarded-proto")
    if proto is None or not _is_trusted(_peer(scope), trusted):
        return False
    return proto.split(",")[-1].strip().lower() == "https"


def client_address(connection: ASGIConnection[Any, Any, Any, Any]) -> str:
    """The client's IP address: the peer's, or behind a trusted proxy the one it forwarded (``X-Forwarded-For``).

    Forwarded headers from any other peer are ignored, so a client cannot choose the address its
    attempts are counted and audited under. Empty when the server gives no peer (a Unix socket).
    """
    return _client_of(connection.scope, _trusted_of(connection))


def is_https(connection: ASGIConnection[Any, Any, Any, Any]) -> bool:
    """The request reached the hub over HTTPS: TLS here, or ``X-Forwarded-Proto: https`` from a trusted proxy."""
    return _https_of(connection.scope, _trusted_of(connection))


def _is_protocol(path: str) -> bool:
    return path.startswith(PROTOCOL_PATHS)


def security_headers(connection: ASGIConnection[Any, Any, Any, Any]) -> dict[str, str]:
    """The headers :class:`SecurityHeadersMiddleware` adds, for a handler outside it (the 404 of an unknown path)."""
    if _is_protocol(connection.scope["path"]):
        return {}
    return dict(_headers(is_https(connection)))


def _headers(https: bool) -> list[tuple[str, str]]:
    headers = [
        ("content-security-policy", content_security_policy()),
        ("x-frame-options", "DENY"),
        ("x-content-type-options", "nosniff"),
        ("referrer-policy", "no-referrer"),
        ("cache-control", "no-store"),  # pages and API answers show personal data or live state
    ]
    if https:
        headers.append(("strict-transport-security", HSTS))
    return headers


def _secure_cookie(value: bytes) -> bytes:
    attributes = [part.strip().lower() for part in value.split(b";")[1:]]
    return value if b"secure" in attributes else value + b"; Secure"


class SecurityHeadersMiddleware(ASGIMiddleware):
    """Adds the security headers to every answer but the station protocol's; Secure cookies and HSTS over HTTPS."""

    def __init__(self, settings: Any) -> None:
        self.trusted = parse_trusted_proxies(settings.trusted_proxies)
        self.always_secure = bool(settings.cookie_secure)

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        """Rewrite the response start message: add what is missing, mark cookies Secure over HTTPS."""
        if scope["type"] != "http" or _is_protocol(scope["path"]):
            await next_app(scope, receive, send)
            return
        https = _https_of(scope, self.trusted)
        secure = https or self.always_secure
        extra = [(k.encode(), v.encode()) for k, v in _headers(https)]

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = {bytes(k).lower() for k, _ in message.get("headers", [])}
                headers = [
                    (k, _secure_cookie(bytes(v)) if secure and bytes(k).lower() == b"set-cookie" else v)
                    for k, v in message.get("headers", [])
                ]
                headers += [(k, v) for k, v in extra if k not in present]
                message = {**message, "headers": headers}  # type: ignore[typeddict-item]
            await send(message)

        await next_app(scope, receive, sending)
