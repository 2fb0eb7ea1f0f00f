"""Who is on the other end of a request: the address the per-address limits count (web chat conversations,
console logins)."""
from __future__ import annotations

from aiohttp import web


def client_address(request: web.Request, trust_forwarded_for: bool = False) -> str:
    """The peer's address, or behind a trusted proxy the last one in X-Forwarded-For (the one the proxy saw; the
    ones before it are whatever the client claimed)."""
    if trust_forwarded_for:
        forwarded = [a.strip() for header in request.headers.getall("X-Forwarded-For", []) for a in header.split(",")]
        forwarded = [a for a in forwarded if a]
        if forwarded:
            return forwarded[-1]
    return request.remote or "unknown"
