"""The console's pages: static HTML served under a strict Content-Security-Policy (no inline script or style)."""
from __future__ import annotations

from pathlib import Path

from aiohttp import web

STATIC_DIR = Path(__file__).resolve().parent / "static"


def page_headers(connect_src: str = "'self'") -> dict:
    """`connect_src`: where the page's scripts may connect; the console itself also opens its live WebSocket."""
    return {
        "Content-Security-Policy": f"default-src 'self'; connect-src {connect_src}; img-src 'self' data:; "
                                   "style-src 'self'; script-src 'self'; frame-ancestors 'none'",
        "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer"}


def page(name: str, connect_src: str = "'self'") -> web.FileResponse:
    return web.FileResponse(STATIC_DIR / name, headers=page_headers(connect_src))
