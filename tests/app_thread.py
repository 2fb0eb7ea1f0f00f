"""An aiohttp app served on 127.0.0.1:<free port> by an event loop in a thread of its own, for tests that drive it
from synchronous code (Playwright's sync API)."""
from __future__ import annotations

import asyncio
import threading
from typing import Optional

from aiohttp import web


class AppThread:
    def __init__(self, app: web.Application):
        self.app = app
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="app", daemon=True)
        self.runner: Optional[web.AppRunner] = None
        self.port = 0

    async def _start(self) -> None:
        self.runner = web.AppRunner(self.app)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    def call(self, coro, timeout: float = 30):
        """Run a coroutine on the app's loop and wait for its result."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def start(self) -> "AppThread":
        self.thread.start()
        self.call(self._start())
        return self

    def stop(self) -> None:
        try:
            if self.runner is not None:
                self.call(self.runner.cleanup())
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(10)
            self.loop.close()

    def __enter__(self) -> "AppThread":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"
