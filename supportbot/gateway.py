"""The gateway: the one public web server. Customer channels and the agent console live here; the Rasa
server behind it is asked only while the bot owns a conversation."""
from __future__ import annotations

import argparse
import asyncio
import logging
from datetime import timedelta
from typing import Awaitable, Callable, List, Optional

from aiohttp import web

from handoff.bot_client import RasaBotClient
from handoff.canned import CannedReplies
from handoff.conversation_lock import ConversationLocks
from handoff.customer_data import CustomerData
from handoff.console.app import console_app
from handoff.hours import BusinessHours
from signals.personal_data import install_log_masking
from handoff.router import ConversationRouter
from handoff.store import HandoffStore
from protocol.limits import MessageLimits
from replies.composer import ReplyComposer
from supportbot.channels.rest import require_token, rest_routes
from supportbot.channels.telegram import TelegramChannel
from supportbot.channels.webchat import install_webchat
from supportbot.settings import Settings, use_library_defaults

log = logging.getLogger(__name__)
EVENT_PRUNE_SECONDS = 600
RETENTION_PURGE_SECONDS = 24 * 3600
TURN_RECOVERY_SECONDS = 30  # also at start: a turn a killed gateway left is in the queue within two minutes


async def every(seconds: float, job: Callable[[], Awaitable[object]], what: str, first_after: float = 0.0) -> None:
    """Run `job` now (or after `first_after`) and then every `seconds`, logging its failures, until cancelled."""
    await asyncio.sleep(first_after)
    while True:
        try:
            await job()
        except Exception:
            log.exception("%s failed", what)
        await asyncio.sleep(seconds)


@web.middleware
async def refuse_compressed_bodies(request: web.Request, handler):
    """415 for a request body sent compressed: aiohttp would inflate it without a limit, and a small zip bomb takes
    hundreds of megabytes. No client of ours compresses what it sends. The connection is closed rather than the
    rest of the body read."""
    if request.headers.get("Content-Encoding", "identity").strip().lower() not in ("", "identity"):
        reply = web.json_response({"error": "compressed request bodies are not accepted"}, status=415)
        reply.force_close()
        return reply
    return await handler(request)


def message_limits(settings: Settings) -> MessageLimits:
    return MessageLimits.parse_rate(settings.rate_limit, settings.max_message_chars, settings.max_messages_per_hour)


def business_hours(settings: Settings) -> BusinessHours:
    return BusinessHours.parse(settings.business_hours, settings.business_timezone)


def build_app(settings: Settings, store: Optional[HandoffStore] = None, bot: Optional[RasaBotClient] = None,
              hours: Optional[BusinessHours] = None, rasa_urls: Optional[List[str]] = None) -> web.Application:
    """The gateway for `settings`; `store`, `bot` and `hours` replace the configured ones (tests, benchmarks)."""
    store = store or HandoffStore.open(settings.database_url)
    bot = bot or RasaBotClient(rasa_urls or settings.rasa_urls)
    router = ConversationRouter(store, bot, hours or business_hours(settings), ReplyComposer(bot_name=settings.bot_name),
                                locks=ConversationLocks(settings.redis_url), limits=message_limits(settings))
    app = console_app(router, CannedReplies(settings.knowledge_dir), secure_cookies=settings.secure_cookies,
                      session_idle=timedelta(minutes=settings.session_idle_minutes),
                      trust_forwarded_for=settings.behind_trusted_proxy, encoder_spec=settings.encoder)
    app.middlewares.insert(0, refuse_compressed_bodies)
    app.middlewares.append(require_token(settings.rest_api_token))
    app.add_routes(rest_routes(router))
    install_webchat(app, router, allowed_origins=settings.webchat_origins,
                    new_conversations_per_hour=settings.webchat_new_conversations_per_hour,
                    trust_forwarded_for=settings.behind_trusted_proxy, bot_name=settings.bot_name)

    async def health(request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    app.router.add_get("/health", health)

    async def background(app: web.Application):
        async def prune():
            await asyncio.to_thread(store.prune_events)

        async def purge_past_retention():
            removed = await asyncio.to_thread(CustomerData.for_engine(store.engine).purge_older_than, settings.retention_days)
            if removed.anything:
                log.info("deleted what is older than RETENTION_DAYS=%d: %s", settings.retention_days, removed.summary())

        tasks = [asyncio.create_task(every(EVENT_PRUNE_SECONDS, prune, "pruning old live events", first_after=EVENT_PRUNE_SECONDS)),
                 asyncio.create_task(every(TURN_RECOVERY_SECONDS, router.recover_interrupted_turns,
                                           "recovering turns cut off by a gateway that died"))]
        if settings.retention_days > 0:
            tasks.append(asyncio.create_task(every(RETENTION_PURGE_SECONDS, purge_past_retention,
                                                   "deleting what is older than RETENTION_DAYS")))
        yield
        for task in tasks:
            task.cancel()
        await bot.close()
        await router.locks.close()

    app.cleanup_ctx.append(background)
    if settings.telegram_token:  # after `background`, so the channel stops before the bot client closes
        TelegramChannel.from_settings(router, settings).install(app)
    return app


def main(argv: Optional[list] = None) -> None:
    parser = argparse.ArgumentParser(description="the supportbot gateway: customer channels and the agent console")
    parser.add_argument("--port", type=int, default=None)
    parser.add_argument("--rasa-url", action="append", help="a Rasa server's REST webhook (repeat for several servers)")
    args = parser.parse_args(argv)
    settings = Settings.from_environ()
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    install_log_masking()
    use_library_defaults()  # the console's gaps page loads the encoder
    port = args.port or settings.gateway_port
    web.run_app(build_app(settings, rasa_urls=args.rasa_url), host=settings.host, port=port, print=None, access_log=None)


if __name__ == "__main__":
    main()
