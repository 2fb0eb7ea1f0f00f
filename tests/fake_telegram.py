"""A stand-in for the Telegram Bot API on 127.0.0.1: what python-telegram-bot calls, over real HTTP.

Tests put updates in (a customer's text, button press, edit, sticker) and wait for what the bot sent to a chat.
Updates go out by getUpdates (long polling, with offsets), or, once a webhook is set, are POSTed to it with
the secret token header, as Telegram does."""
from __future__ import annotations

import asyncio
import itertools
import json
import time
from typing import Any, Dict, List, Optional

import aiohttp
from aiohttp import web

BOT_USER = {"id": 7000001, "is_bot": True, "first_name": "Laine", "username": "laine_test_bot",
            "can_join_groups": False, "can_read_all_group_messages": False, "supports_inline_queries": False}
JSON_FIELDS = ("reply_markup", "allowed_updates", "entities", "reply_parameters", "link_preview_options")


class FakeTelegram:
    def __init__(self, token: str = "123456:TEST-token"):
        self.token = token
        self.url = ""
        self.calls: List[Dict[str, Any]] = []  # every request: {"method", "params"}
        self.sent: List[Dict[str, Any]] = []  # every message the bot sent, as the Message it got back
        self.chat_actions: List[Dict[str, Any]] = []
        self.callback_answers: List[Dict[str, Any]] = []
        self.edits: List[Dict[str, Any]] = []
        self.webhook: Dict[str, Any] = {"url": "", "secret_token": ""}
        self._updates: List[Dict[str, Any]] = []
        self._update_ids = itertools.count(1)
        self._message_ids = itertools.count(1001)
        self._callback_ids = itertools.count(1)
        self._changed = asyncio.Condition()
        self._runner: Optional[web.AppRunner] = None
        self._closing = False
        self.sending_fails = False  # sendMessage answers 502, as Telegram does during an outage

    # the server

    async def start(self) -> "FakeTelegram":
        app = web.Application()
        app.router.add_route("*", "/bot{token}/{method}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        return self

    async def close(self) -> None:
        self._closing = True  # ends the long polls still waiting
        async with self._changed:
            self._changed.notify_all()
        if self._runner:
            await self._runner.cleanup()

    async def _handle(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != self.token:
            return web.json_response({"ok": False, "error_code": 401, "description": "Unauthorized"}, status=401)
        params: Dict[str, Any] = dict(request.query)
        if request.content_type == "application/json":
            params.update(await request.json())
        elif request.can_read_body:
            params.update({k: v for k, v in (await request.post()).items() if isinstance(v, str)})
        for key in JSON_FIELDS:
            if isinstance(params.get(key), str):
                params[key] = json.loads(params[key])
        method = request.match_info["method"]
        self.calls.append({"method": method, "params": params})
        handler = getattr(self, f"api_{method}", None)
        if handler is None:
            return web.json_response({"ok": False, "error_code": 404, "description": "Not Found: method not found"},
                                     status=404)
        result = await handler(params)
        return web.json_response({"ok": True, "result": result})

    # the Bot API methods

    async def api_getMe(self, params):
        return BOT_USER

    async def api_logOut(self, params):
        return True

    async def api_close(self, params):
        return True

    async def api_getUpdates(self, params):
        if self.webhook["url"]:
            return []  # Telegram answers 409 here; an empty answer is enough for the tests
        offset = int(params.get("offset") or 0)
        timeout = float(params.get("timeout") or 0)
        if offset:
            self._updates = [u for u in self._updates if u["update_id"] >= offset]
        deadline = time.monotonic() + timeout
        async with self._changed:
            while not self._updates and not self._closing and time.monotonic() < deadline:
                try:
                    await asyncio.wait_for(self._changed.wait(), deadline - time.monotonic())
                except asyncio.TimeoutError:
                    break
        return list(self._updates)

    async def api_setWebhook(self, params):
        self.webhook = {"url": params.get("url", ""), "secret_token": params.get("secret_token", ""),
                        "allowed_updates": params.get("allowed_updates")}
        return True

    async def api_deleteWebhook(self, params):
        self.webhook = {"url": "", "secret_token": ""}
        if str(params.get("drop_pending_updates")).lower() == "true":
            self._updates.clear()
        return True

    async def api_getWebhookInfo(self, params):
        return {"url": self.webhook["url"], "has_custom_certificate": False, "pending_update_count": len(self._updates)}

    async def api_sendMessage(self, params):
        if self.sending_fails:
            raise web.HTTPBadGateway(text='{"ok": false, "error_code": 502, "description": "Bad Gateway"}',
                                     content_type="application/json")
        chat_id = int(params["chat_id"])
        message = {"message_id": next(self._message_ids), "date": int(time.time()), "from": BOT_USER,
                   "chat": {"id": chat_id, "type": "private"}, "text": params["text"]}
        if params.get("reply_markup"):
            message["reply_markup"] = params["reply_markup"]
        async with self._changed:
            self.sent.append(message)
            self._changed.notify_all()
        return message

    async def api_sendChatAction(self, params):
        self.chat_actions.append({"chat_id": int(params["chat_id"]), "action": params["action"]})
        return True

    async def api_answerCallbackQuery(self, params):
        self.callback_answers.append(params)
        return True

    async def api_editMessageReplyMarkup(self, params):
        self.edits.append(params)
        message_id, markup = int(params["message_id"]), params.get("reply_markup")
        for message in self.sent:
            if message["message_id"] == message_id:
                if markup and markup.get("inline_keyboard"):
                    message["reply_markup"] = markup
                else:
                    message.pop("reply_markup", None)
                return message
        return True

    # what a test does

    @staticmethod
    def user(chat_id: int, first_name: str = "Anna", language_code: Optional[str] = "en") -> Dict[str, Any]:
        user = {"id": chat_id, "is_bot": False, "first_name": first_name}
        if language_code:
            user["language_code"] = language_code
        return user

    def _message(self, chat_id: int, first_name: str, language_code: Optional[str], **content) -> Dict[str, Any]:
        return {"message_id": next(self._message_ids), "date": int(time.time()),
                "chat": {"id": chat_id, "type": "private", "first_name": first_name},
                "from": self.user(chat_id, first_name, language_code), **content}

    async def put(self, update: Dict[str, Any]) -> Dict[str, Any]:
        """Hand an update to the bot: by its webhook when one is set, else to getUpdates."""
        update = {"update_id": next(self._update_ids), **update}
        if self.webhook["url"]:
            headers = {"X-Telegram-Bot-Api-Secret-Token": self.webhook["secret_token"]} if self.webhook["secret_token"] else {}
            async with aiohttp.ClientSession() as session:
                async with session.post(self.webhook["url"], json=update, headers=headers) as reply:
                    assert reply.status == 200, (reply.status, await reply.text())
            return update
        async with self._changed:
            self._updates.append(update)
            self._changed.notify_all()
        return update

    async def text(self, chat_id: int, text: str, first_name: str = "Anna", language_code: Optional[str] = "en",
                   edited_id: Optional[int] = None) -> Dict[str, Any]:
        content: Dict[str, Any] = {"text": text}
        if text.startswith("/"):
            content["entities"] = [{"type": "bot_command", "offset": 0, "length": len(text.split()[0])}]
        message = self._message(chat_id, first_name, language_code, **content)
        if edited_id is not None:
            message.update(message_id=edited_id, edit_date=int(time.time()))
            return await self.put({"edited_message": message})
        return await self.put({"message": message})

    async def sticker(self, chat_id: int, first_name: str = "Anna", language_code: Optional[str] = "en"):
        sticker = {"file_id": "CAACAgIAAxkBAAIB", "file_unique_id": "AgADBAAD", "width": 512, "height": 512,
                   "is_animated": False, "is_video": False, "type": "regular", "emoji": "👍"}
        return await self.put({"message": self._message(chat_id, first_name, language_code, sticker=sticker)})

    async def press(self, message: Dict[str, Any], callback_data: str, first_name: str = "Anna",
                    language_code: Optional[str] = "en") -> Dict[str, Any]:
        """Press an inline button of a message the bot sent."""
        chat_id = message["chat"]["id"]
        query = {"id": str(next(self._callback_ids)), "from": self.user(chat_id, first_name, language_code),
                 "message": message, "chat_instance": f"ci-{chat_id}", "data": callback_data}
        return await self.put({"callback_query": query})

    def sent_to(self, chat_id: int) -> List[Dict[str, Any]]:
        return [m for m in self.sent if m["chat"]["id"] == chat_id]

    async def wait_sent(self, chat_id: int, after: int, count: int = 1, timeout: float = 60.0,
                        settle: float = 0.0) -> List[Dict[str, Any]]:
        """The messages sent to the chat after the first `after` ones, once there are at least `count`;
        with `settle`, also those that follow within that many seconds of quiet."""
        deadline = time.monotonic() + timeout
        async with self._changed:
            while len(self.sent_to(chat_id)) < after + count:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(f"chat {chat_id}: expected {count} new messages, got "
                                         f"{[m['text'] for m in self.sent_to(chat_id)[after:]]}")
                try:
                    await asyncio.wait_for(self._changed.wait(), remaining)
                except asyncio.TimeoutError:
                    pass
        while settle:
            seen = len(self.sent_to(chat_id))
            await asyncio.sleep(settle)
            if len(self.sent_to(chat_id)) == seen:
                break
        return self.sent_to(chat_id)[after:]


def buttons_of(message: Dict[str, Any]) -> List[Dict[str, str]]:
    """The inline buttons of a sent message, row by row flattened: {"text", "callback_data"}."""
    markup = message.get("reply_markup") or {}
    return [button for row in markup.get("inline_keyboard", []) for button in row]
