"""The Telegram customer channel of the gateway, on python-telegram-bot's async API.

Long polling when TELEGRAM_TOKEN is set; a webhook on the gateway (POST /webhooks/telegram) when
TELEGRAM_WEBHOOK_URL is set too. The Application lives inside the gateway's aiohttp lifecycle and never owns
the event loop. A Telegram conversation is the router's channel "telegram" with the chat id as customer id,
so anything the console sends later (an agent's reply, the rating request) reaches the chat from the stored
chat id alone, after a restart as well.

Buttons carry no payload of their own (Telegram allows 64 bytes of callback data): "b:<message id>:<index>"
points at the button in the stored bot message, "f:<message id>:<1|0>" is the 👍/👎 feedback on an answer.
"""
from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import logging
import os
import re
import secrets
from pathlib import Path
from typing import Any, AsyncIterator, Dict, List, NamedTuple, Optional, Tuple

from aiohttp import web
from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Message, Update, User
from telegram.constants import ChatAction
from telegram.error import BadRequest, Forbidden, InvalidToken, RetryAfter, TelegramError
from telegram.ext import Application, CallbackQueryHandler, ContextTypes, MessageHandler, filters

from handoff.router import ConversationRouter, TooManyMessages
from handoff.views import ConversationView, MessageView, NotFound
from protocol.kinds import Kind

log = logging.getLogger(__name__)

CHANNEL = "telegram"
MAX_TEXT = 4096  # Telegram's limit for one message, in UTF-16 code units
TYPING_EVERY = 4.0  # Telegram shows "typing…" for about 5 s per chat action
TYPING_AFTER = 0.5  # a message the router only stores (an agent owns the conversation) shows no "typing…"
WEBHOOK_PATH = "/webhooks/telegram"
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
ALLOWED_UPDATES = ["message", "edited_message", "callback_query"]
LANGUAGES = ("et", "ru", "en")
# /start is the customer's greeting, in the language their Telegram app is set to
GREETINGS = {"et": "Tere!", "ru": "Здравствуйте!", "en": "Hello!"}
THUMBS_UP, THUMBS_DOWN = "👍", "👎"
CALLBACK_DATA = re.compile(r"^([bf]):(\d{1,18}):(\d{1,3})$")
SHORT_BUTTON_TITLE = 4  # buttons this short (the 1-5 rating) share one row
RETRY_EVERY = 15.0  # seconds between looks for kept messages that are due again
# what the handlers read of an update, with the type Telegram gives it; python-telegram-bot takes any type there
MESSAGE_FIELDS = {("text",): str, ("caption",): str, ("chat", "id"): int, ("from", "id"): int,
                  ("from", "first_name"): str, ("from", "language_code"): str}
READ_FIELDS = {"message": MESSAGE_FIELDS, "edited_message": MESSAGE_FIELDS,
               "callback_query": {("data",): str, ("from", "id"): int, ("from", "first_name"): str,
                                  ("from", "language_code"): str, ("message", "chat", "id"): int}}


# --- helpers without Telegram -------------------------------------------------------------------------------

def utf16_length(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def _longest_prefix(text: str, limit: int) -> int:
    """The most characters from the start of `text` that fit in `limit` UTF-16 code units."""
    n = min(len(text), limit)
    while utf16_length(text[:n]) > limit:
        n -= max(1, (utf16_length(text[:n]) - limit) // 2)
    return n


def split_text(text: str, limit: int = MAX_TEXT) -> List[str]:
    """Cut a long message into pieces Telegram accepts, at a paragraph, else a line, else a word boundary.
    The separators stay at the end of their piece, so the pieces joined are the text again."""
    chunks: List[str] = []
    rest = text
    while utf16_length(rest) > limit:
        fits = _longest_prefix(rest, limit)
        cut = 0
        for separator, shortest in (("\n\n", fits // 2), ("\n", fits // 2), (" ", 1)):
            found = rest.rfind(separator, 0, fits)
            if found >= shortest:
                cut = found + len(separator)
                break
        if cut <= 0 or cut > fits:
            cut = fits
            if cut > 1 and "\ud800" <= rest[cut - 1] <= "\udbff":  # never between the halves of a surrogate pair
                cut -= 1
        chunks.append(rest[:cut])
        rest = rest[cut:]
    if rest or not chunks:
        chunks.append(rest)
    return chunks


class CallbackData(NamedTuple):
    kind: str  # "b" a quick-reply button, "f" feedback on an answer
    message_id: int
    value: int  # the button's index; 1 helpful, 0 not


def button_data(message_id: int, index: int) -> str:
    return f"b:{message_id}:{index}"


def feedback_data(message_id: int, helpful: bool) -> str:
    return f"f:{message_id}:{1 if helpful else 0}"


def parse_callback_data(data: Optional[str]) -> Optional[CallbackData]:
    match = CALLBACK_DATA.match(data or "")
    if not match:
        return None
    parsed = CallbackData(match.group(1), int(match.group(2)), int(match.group(3)))
    if parsed.kind == "f" and parsed.value not in (0, 1):
        return None
    return parsed


def keyboard_for(message: MessageView) -> Optional[InlineKeyboardMarkup]:
    """The message's quick replies as inline buttons; an answer also gets 👍/👎."""
    buttons = [b for b in (message.payload.get("buttons") or []) if isinstance(b, dict) and b.get("title")]
    keys = [InlineKeyboardButton(str(b["title"]), callback_data=button_data(message.id, i)) for i, b in enumerate(buttons)]
    if keys and all(len(str(b["title"])) <= SHORT_BUTTON_TITLE for b in buttons):
        rows = [keys]
    else:
        rows = [[key] for key in keys]
    custom = message.payload.get("custom") or {}
    if message.role == "bot" and custom.get("kind") == Kind.ANSWER:
        rows.append([InlineKeyboardButton(THUMBS_UP, callback_data=feedback_data(message.id, True)),
                     InlineKeyboardButton(THUMBS_DOWN, callback_data=feedback_data(message.id, False))])
    return InlineKeyboardMarkup(rows) if rows else None


def telegram_language(code: Optional[str]) -> Optional[str]:
    """A Telegram language_code ("et", "ru", "en-US") as one of the bot's languages, if it is one."""
    short = (code or "").split("-")[0].lower()
    return short if short in LANGUAGES else None


def content_kind(message: Message) -> str:
    """What a message that is not text carries, for the log and the transcript."""
    for kind in ("sticker", "photo", "voice", "video_note", "video", "animation", "audio", "document", "location",
                 "venue", "contact", "poll", "dice", "game", "story", "invoice"):
        if getattr(message, kind, None):
            return kind
    return "other"


def misread_field(update: Dict[str, Any]) -> Optional[str]:
    """The first field the handlers read that has a type Telegram never sends there ("text": 5), if any."""
    for part, fields in READ_FIELDS.items():
        for path, kind in fields.items():
            value: Any = update.get(part)
            for key in path:
                if not isinstance(value, dict):
                    break  # a part that is no object at all: python-telegram-bot's parser refuses it
                value = value.get(key)
            else:
                if value is not None and (not isinstance(value, kind) or isinstance(value, bool)):
                    return ".".join((part, *path))
    return None


def webhook_secret(configured: str, keep_in: Path) -> str:
    """The configured secret, else the one generated on an earlier start, else a new one (kept for restarts)."""
    if configured:
        return configured
    with contextlib.suppress(OSError):
        kept = keep_in.read_text(encoding="utf-8").strip()
        if kept:
            return kept
    secret = secrets.token_urlsafe(32)  # Telegram allows A-Z a-z 0-9 _ -
    keep_in.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(keep_in, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as file:
        file.write(secret)
    return secret


# --- the channel --------------------------------------------------------------------------------------------

class TelegramChannel:
    def __init__(self, router: ConversationRouter, token: str, api_url: str = "https://api.telegram.org",
                 webhook_url: str = "", secret: str = ""):
        if webhook_url and not secret:
            raise ValueError("a webhook needs a secret token")
        self.router = router
        self.webhook_url = webhook_url
        self.secret = secret
        api = api_url.rstrip("/")
        self.application: Application = (
            Application.builder().token(token).base_url(f"{api}/bot").base_file_url(f"{api}/file/bot")
            .concurrent_updates(True).build()
        )
        self.ready = asyncio.Event()
        self.retry_every = RETRY_EVERY
        self._chat_locks: Dict[int, asyncio.Lock] = {}
        self._chat_users: Dict[int, int] = {}
        private = filters.ChatType.PRIVATE
        self.application.add_handler(MessageHandler(private & filters.TEXT, self.on_text))
        self.application.add_handler(MessageHandler(
            private & filters.UpdateType.MESSAGE & ~filters.TEXT & ~filters.StatusUpdate.ALL, self.on_unsupported))
        self.application.add_handler(CallbackQueryHandler(self.on_callback))
        self.application.add_error_handler(self.on_error)
        router.register_channel(CHANNEL, self.deliver, self.show_agent_typing)
        # httpx logs every request URL at INFO, and the URL holds the bot token
        logging.getLogger("httpx").setLevel(logging.WARNING)

    @classmethod
    def from_settings(cls, router: ConversationRouter, settings) -> "TelegramChannel":
        secret = ""
        if settings.telegram_webhook_url:
            secret = webhook_secret(settings.telegram_webhook_secret,
                                    Path(settings.project_root) / "var" / "telegram-webhook-secret")
        return cls(router, settings.telegram_token, settings.telegram_api_url, settings.telegram_webhook_url, secret)

    def install(self, app: web.Application) -> None:
        """Add the webhook route (webhook mode) and start and stop with the gateway."""
        app[TELEGRAM_KEY] = self
        if self.webhook_url:
            app.router.add_post(WEBHOOK_PATH, self.webhook)
        app.cleanup_ctx.append(self.lifecycle)

    # lifecycle

    async def lifecycle(self, app: web.Application) -> AsyncIterator[None]:
        """The gateway serves while Telegram is unreachable: the channel keeps trying to start in the background."""
        starting = asyncio.create_task(self._start_logged())
        retrying = asyncio.create_task(self._retry_kept_messages())
        yield
        for task in (starting, retrying):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self.stop()

    async def _retry_kept_messages(self) -> None:
        """Messages that could not be sent (Telegram unreachable) are tried again, in order, until they arrive."""
        await self.ready.wait()
        while True:
            try:
                sent = await self.router.retry_deliveries(CHANNEL)
                if sent:
                    log.info("Telegram: %d kept message(s) delivered", sent)
            except Exception:
                log.exception("retrying the kept Telegram messages failed")
            await asyncio.sleep(self.retry_every)

    async def _start_logged(self) -> None:
        try:
            await self.start()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("the Telegram channel could not start")

    async def start(self) -> None:
        delay = 1.0
        while True:
            try:
                await self.application.initialize()  # getMe: checks the token
                break
            except InvalidToken:
                log.error("Telegram rejected TELEGRAM_TOKEN: the Telegram channel is off")
                return
            except TelegramError as error:
                log.warning("Telegram is not reachable (%s); trying again in %.0f s", error, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 60.0)
        await self.application.start()
        if self.webhook_url:
            while True:
                try:
                    await self.application.bot.set_webhook(self.webhook_url, secret_token=self.secret,
                                                           allowed_updates=ALLOWED_UPDATES)
                    break
                except TelegramError as error:
                    log.warning("setting the Telegram webhook failed (%s); trying again in %.0f s", error, delay)
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, 60.0)
            log.info("Telegram channel: webhook at %s", self.webhook_url)
        else:
            await self.application.updater.start_polling(allowed_updates=ALLOWED_UPDATES, bootstrap_retries=-1)
            log.info("Telegram channel: long polling")
        self.ready.set()

    async def stop(self) -> None:
        # the webhook stays set: Telegram keeps the updates until a gateway answers again
        self.ready.clear()
        try:
            if self.application.updater and self.application.updater.running:
                await self.application.updater.stop()
            if self.application.running:
                await self.application.stop()
            await self.application.shutdown()
        except Exception:
            log.exception("stopping the Telegram channel failed")

    # the webhook

    async def webhook(self, request: web.Request) -> web.Response:
        if not hmac.compare_digest(request.headers.get(SECRET_HEADER, "").encode("utf-8", "surrogateescape"), self.secret.encode()):
            return web.json_response({"error": "wrong secret token"}, status=403)
        try:
            body = await request.json()
            json.dumps(body, ensure_ascii=False).encode()  # lone surrogates ("\ud800"), which no text column takes
        except (ValueError, RecursionError, LookupError, web.RequestPayloadError):
            return web.json_response({"error": "the body must be a Telegram update in JSON"}, status=400)
        if not isinstance(body, dict) or not isinstance(body.get("update_id"), int):
            return web.json_response({"error": "the body must be a Telegram update with an update_id"}, status=400)
        wrong = misread_field(body)
        if wrong:
            return web.json_response({"error": f"'{wrong}' has the wrong type"}, status=400)
        try:
            update = Update.de_json(body, self.application.bot)
        except Exception as error:  # whatever a malformed update makes the parser raise
            log.warning("a malformed Telegram update: %s", error)
            return web.json_response({"error": "not a readable Telegram update"}, status=400)
        await self.application.update_queue.put(update)
        return web.json_response({"ok": True})

    # updates

    async def on_text(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        message = update.effective_message
        text = message.text or ""
        if text.startswith("/"):
            command, _, rest = text[1:].partition(" ")
            command = command.split("@")[0].lower()
            if command == "start" or not (command + rest).strip():
                text = await self._greeting(message.chat_id, update.effective_user)
            else:  # "/help" is just "help" to the bot
                text = f"{command} {rest}".strip()
        await self.converse(message.chat_id, text, update.effective_user, update_id=update.update_id)

    async def on_unsupported(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        message = update.effective_message
        chat_id, kind = message.chat_id, content_kind(message)
        log.info("Telegram chat %s sent a %s, which the bot cannot read; it was asked for text", chat_id, kind)
        async with self._chat_turn(chat_id):
            reply = await self._unsupported_reply(chat_id, kind, update.effective_user)
            await self._send_safely(chat_id, reply)
        if message.caption:  # a screenshot with a question: the question is text
            await self.converse(chat_id, message.caption, update.effective_user, update_id=update.update_id)

    async def on_callback(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        query = update.callback_query
        chat_id = query.message.chat.id if query.message else query.from_user.id
        parsed = parse_callback_data(query.data)
        if parsed is None:
            log.info("Telegram chat %s pressed a button with unknown data %r", chat_id, query.data)
            await query.answer()
            return
        if parsed.kind == "f":
            await self._feedback(query, chat_id, parsed)
            return
        pressed = await self._button(chat_id, parsed)
        await query.answer()
        if pressed is None:
            log.info("Telegram chat %s pressed a button of message %s that is not there", chat_id, parsed.message_id)
            return
        await self._without_buttons(query, "b:")
        payload, title = pressed
        await self.converse(chat_id, payload, query.from_user, display=title, update_id=update.update_id)

    async def on_error(self, update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        update_id = update.update_id if isinstance(update, Update) else None
        log.error("the Telegram channel failed on update %s", update_id, exc_info=context.error)

    # talking to the router

    async def converse(self, chat_id: int, text: str, user: Optional[User], display: Optional[str] = None,
                       update_id: Optional[int] = None) -> None:
        """`display`: a pressed button's title, which the transcript shows instead of its payload. An update
        Telegram sends again (it does, when a webhook answered late) is handled once, by its `update_id`."""
        metadata: Dict[str, Any] = {"telegram": {"first_name": user.first_name if user else None,
                                                 "language_code": user.language_code if user else None}}
        if display:
            metadata["display"] = display
        client_id = f"tg-update:{update_id}" if update_id is not None else None
        async with self._chat_turn(chat_id):
            if client_id and await self._seen(chat_id, client_id):
                log.info("Telegram update %s came again; it was handled already", update_id)
                return
            try:
                async with self.typing(chat_id):  # the router answers even when the bot fails (handoff/router.py)
                    replies = await self.router.receive(CHANNEL, str(chat_id), text, metadata, client_id)
            except TooManyMessages as refused:
                log.warning("Telegram chat %s: a message was not kept: %s", chat_id, refused)
                return
            for reply in replies:
                await self._send_safely(chat_id, reply)

    async def _seen(self, chat_id: int, client_id: str) -> bool:
        store = self.router.store
        conversation = await asyncio.to_thread(store.find, CHANNEL, str(chat_id))
        return conversation is not None and await asyncio.to_thread(store.has_client_message, conversation.id, client_id)

    async def _feedback(self, query, chat_id: int, parsed: CallbackData) -> None:
        async with self._chat_turn(chat_id):
            try:
                replies = await self.router.feedback(CHANNEL, str(chat_id), parsed.message_id, bool(parsed.value))
            except (NotFound, ValueError) as problem:
                log.info("Telegram chat %s: feedback on message %s refused: %s", chat_id, parsed.message_id, problem)
                await query.answer()
                return
            await query.answer()
            await self._without_buttons(query, "f:")
            for reply in replies:
                await self._send_safely(chat_id, reply)

    async def _button(self, chat_id: int, parsed: CallbackData) -> Optional[Tuple[str, str]]:
        """The payload and title of the pressed button, from the stored bot message of this chat's conversation."""
        store = self.router.store
        conversation = await asyncio.to_thread(store.find, CHANNEL, str(chat_id))
        if conversation is None:
            return None
        try:
            message = await asyncio.to_thread(store.message, parsed.message_id)
        except NotFound:
            return None
        if message.conversation_id != conversation.id or message.role != "bot":
            return None  # only this chat's own bot messages
        buttons = message.payload.get("buttons") or []
        if not 0 <= parsed.value < len(buttons) or not isinstance(buttons[parsed.value], dict):
            return None
        button = buttons[parsed.value]
        payload = str(button.get("payload") or button.get("title") or "")
        return (payload, str(button.get("title") or "")) if payload else None

    async def _greeting(self, chat_id: int, user: Optional[User]) -> str:
        conversation = await asyncio.to_thread(self.router.store.find, CHANNEL, str(chat_id))
        language = (conversation.language if conversation else None) \
            or telegram_language(user.language_code if user else None) or "en"
        return GREETINGS.get(language, GREETINGS["en"])

    async def _unsupported_reply(self, chat_id: int, kind: str, user: Optional[User]) -> MessageView:
        store = self.router.store
        conversation = await asyncio.to_thread(store.conversation, CHANNEL, str(chat_id))
        await asyncio.to_thread(store.add_message, conversation.id, "customer", f"[{kind}]", conversation.customer_name,
                                {"telegram": {"content": kind}})
        return await self._composed(conversation, "unsupported_content", user, {"kind": Kind.UNSUPPORTED_CONTENT, "content": kind})

    async def _composed(self, conversation: ConversationView, key: str, user: Optional[User],
                        custom: Dict[str, Any]) -> MessageView:
        """A reply of the composer, in the conversation's language (else the Telegram app's), stored as the bot's."""
        language = conversation.language or telegram_language(user.language_code if user else None) or "en"
        return await self.router.notice(conversation, key, {**custom, "language": language}, language=language)

    # talking to Telegram

    async def deliver(self, conversation: ConversationView, message: MessageView) -> None:
        """The router's push for messages that come later (an agent's reply): the stored chat id is all it needs.
        A chat that blocked the bot or is gone will never take it: logged and dropped. Anything else (Telegram
        unreachable) raises, and the router keeps the message for a later try."""
        try:
            await self.send(int(conversation.customer_id), message)
        except (Forbidden, BadRequest) as refused:
            log.warning("Telegram refused message %s for chat %s for good: %s", message.id, conversation.customer_id, refused)

    async def show_agent_typing(self, conversation: ConversationView, agent) -> None:
        """An agent types in the console: "typing…" in the customer's chat."""
        await self.application.bot.send_chat_action(int(conversation.customer_id), ChatAction.TYPING)

    async def send(self, chat_id: int, message: MessageView) -> None:
        if not message.text.strip():
            return
        chunks = split_text(message.text)
        markup = keyboard_for(message)
        for i, chunk in enumerate(chunks):
            last = i == len(chunks) - 1
            await self._send_chunk(chat_id, chunk, markup if last else None)

    async def _send_chunk(self, chat_id: int, text: str, markup: Optional[InlineKeyboardMarkup]) -> None:
        for attempt in range(3):
            try:
                await self.application.bot.send_message(chat_id, text, reply_markup=markup)
                return
            except RetryAfter as wait:
                if attempt == 2:
                    raise
                retry_after = wait.retry_after
                seconds = retry_after.total_seconds() if hasattr(retry_after, "total_seconds") else float(retry_after)
                await asyncio.sleep(min(seconds, 30.0))

    async def _send_safely(self, chat_id: int, message: MessageView) -> None:
        try:
            await self.send(chat_id, message)
        except Forbidden:
            log.info("Telegram chat %s blocked the bot; message %s stays stored", chat_id, message.id)
        except TelegramError:
            log.exception("could not send message %s to Telegram chat %s", message.id, chat_id)

    async def _without_buttons(self, query, prefix: str) -> None:
        """Take the pressed kind of buttons ("b:" quick replies, "f:" feedback) off the message: pressed once."""
        markup = query.message.reply_markup if query.message else None
        if markup is None:
            return
        rows = [[b for b in row if not (b.callback_data or "").startswith(prefix)] for row in markup.inline_keyboard]
        rows = [row for row in rows if row]
        try:
            await query.edit_message_reply_markup(InlineKeyboardMarkup(rows) if rows else None)
        except BadRequest as error:  # "message is not modified", or too old to edit
            log.debug("could not take the buttons off: %s", error)

    @contextlib.asynccontextmanager
    async def typing(self, chat_id: int) -> AsyncIterator[None]:
        """"typing…" in the chat, repeated while the router works."""
        async def keep_typing():
            await asyncio.sleep(TYPING_AFTER)
            while True:
                try:
                    await self.application.bot.send_chat_action(chat_id, ChatAction.TYPING)
                except TelegramError as error:
                    log.debug("chat action for %s failed: %s", chat_id, error)
                await asyncio.sleep(TYPING_EVERY)

        task = asyncio.create_task(keep_typing())
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    @contextlib.asynccontextmanager
    async def _chat_turn(self, chat_id: int) -> AsyncIterator[None]:
        """One update of a chat at a time, in the order they came; updates of different chats run side by side."""
        lock = self._chat_locks.setdefault(chat_id, asyncio.Lock())
        self._chat_users[chat_id] = self._chat_users.get(chat_id, 0) + 1
        try:
            async with lock:
                yield
        finally:
            self._chat_users[chat_id] -= 1
            if not self._chat_users[chat_id]:
                del self._chat_users[chat_id]
                self._chat_locks.pop(chat_id, None)


TELEGRAM_KEY = web.AppKey("telegram", TelegramChannel)


def telegram_channel(router: ConversationRouter, settings) -> Optional[TelegramChannel]:
    """The channel when TELEGRAM_TOKEN is set."""
    return TelegramChannel.from_settings(router, settings) if settings.telegram_token else None

