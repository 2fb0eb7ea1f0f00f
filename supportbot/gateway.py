"""The gateway: the one public web server. Customer channels and the agent console live here; the Rasa
server behind it is asked only while the bot owns a conversation."""
from __future__ import annotations

import argparse
import asyncio
import logging
import os
from typing import List, Optional

from aiohttp import web

from handoff.bot_client import RasaBotClient
from handoff.canned import CannedReplies
from handoff.conversation_lock import ConversationLocks
from handoff.console.app import console_app
from handoff.hours import BusinessHours
from handoff.router import ConversationRouter
from handoff.store import HandoffStore
from supportbot.channels.rest import require_token, rest_routes
from supportbot.channels.webchat import install_webchat
from supportbot.settings import Settings

log = logging.getLogger(__name__)
EVENT_PRUNE_SECONDS = 600


def build_app(settings: Settings, store: Optional[HandoffStore] = None, bot: Optional[RasaBotClient] = None,
              hours: Optional[BusinessHours] = None, rasa_urls: Optional[List[str]] = None) -> web.Application:
    store = store or HandoffStore.open(settings.database_url)
    bot = bot or RasaBotClient(rasa_urls or [settings.rasa_webhook_url])
    router = ConversationRouter(store, bot, hours or BusinessHours.from_environment(),
                                locks=ConversationLocks(settings.redis_url))
    app = console_app(router, CannedReplies(settings.knowledge_dir), secure_cookies=settings.secure_cookies)
    app.middlewares.append(require_token(settings.rest_api_token))
    app.add_routes(rest_routes(router))
    install_webchat(app, router, allowed_origins=settings.webchat_origins)

    async def health(request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    app.router.add_get("/health", health)

    async def background(app: web.Application):
        async def prune():
            while True:
                await asyncio.sleep(EVENT_PRUNE_SECONDS)
                try:
                    await asyncio.to_thread(store.prune_events)
                except Exception:
                    log.exception("pruning old live events failed")

        task = asyncio.create_task(prune())
        yield
        task.cancel()
        await bot.close()
        await router.locks.close()

    app.cleanup_ctx.append(background)
    if settings.telegram_token:  # after `background`, so the channel stops before the bot client closes
        from supportbot.channels.telegram import TelegramChannel

        TelegramChannel.from_settings(router, settings).install(app)
    return app


def main(argv: Optional[list] = None) -> None:
    parser = argparse.ArgumentParser(description="the supportbot gateway: customer channels and the agent console")
    parser.add_argument("--port", type=int, default=None)
    parser.add_argument("--rasa-url", action="append", help="a Rasa server's REST webhook (repeat for several servers)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=os.environ.get("LOG_LEVEL", "INFO"), format="%(asctime)s %(name)s %(levelname)s %(message)s")
    settings = Settings()
    port = args.port or settings.gateway_port
    web.run_app(build_app(settings, rasa_urls=args.rasa_url), host=settings.host, port=port, print=None, access_log=None)


if __name__ == "__main__":
    main()
