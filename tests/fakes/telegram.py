"""A local emulator of the Telegram Bot API, served over real HTTP by aiohttp.

End-to-end tests point a real aiogram ``Bot`` at it::

    emu = TelegramEmulator()
    await emu.start()
    bot = Bot(emu.token, session=AiohttpSession(api=TelegramAPIServer.from_base(emu.base_url)))

It keeps chats and their message history, queues updates for ``getUpdates`` (long polling
included), answers with the real response shapes, HTTP statuses and error descriptions, and
records every request in ``calls``.  Faults (429, 403, dropped connections, chat migration,
flood limits) can be injected.  This module imports only aiohttp and the standard library.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import json
import math
import mimetypes
import re
import struct
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from aiohttp.web_request import FileField

JSON = dict[str, Any]

BOT_FIRST_NAME = "Our Bot"
TEXT_LIMIT = 4096
CAPTION_LIMIT = 1024
PHOTO_MAX_BYTES = 10 * 1024 * 1024
UPLOAD_MAX_BYTES = 50 * 1024 * 1024
DEFAULT_PHOTO_SIDE = 1024

#: Sends that create messages: the only ones the flood limits count.
CREATING_METHODS = frozenset(
    {"sendmessage", "sendphoto", "senddocument", "sendmediagroup", "copymessage", "forwardmessage"}
)
#: Methods aimed at one chat: subject to "chat not found", migration and blocking.
CHAT_METHODS = CREATING_METHODS | {
    "sendchataction",
    "editmessagetext",
    "editmessagecaption",
    "editmessagereplymarkup",
    "deletemessage",
    "setmessagereaction",
}
CHAT_ACTIONS = frozenset(
    {
        "typing", "upload_photo", "record_video", "upload_video", "record_voice", "upload_voice",
        "upload_document", "choose_sticker", "find_location", "record_video_note",
        "upload_video_note",
    }
)
NOT_MODIFIED = (
    "message is not modified: specified new message content and reply markup are exactly "
    "the same as a current content and reply markup of the message"
)
QUERY_INVALID = "query is too old and response timeout expired or query ID is invalid"
MIGRATED = "Bad Request: group chat was upgraded to a supergroup chat"
CONFLICT = "Conflict: terminated by other getUpdates request; make sure that only one bot instance is running"  # noqa: E501

# Request fields that stay strings even when they look like JSON (a prompt "42" is text).
_STRING_FIELDS = frozenset(
    {
        "text", "caption", "data", "parse_mode", "action", "title", "description", "name",
        "short_description", "emoji", "callback_query_id", "url", "inline_message_id", "query",
        "file_id", "photo", "document", "video", "audio", "voice", "animation", "sticker",
        "thumbnail", "language_code", "secret_token", "business_connection_id", "first_name",
    }
)
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")


# ---------------------------------------------------------------------------- public records


@dataclass
class ApiCall:
    """One request the emulator received, and what it answered."""

    method: str  # lower-cased method name, e.g. "sendphoto"
    params: dict[str, Any]  # decoded request fields
    files: dict[str, bytes]  # uploads keyed by the parameter they were attached to
    status: int  # HTTP status answered (0 while pending, or for a dropped connection)
    response: dict[str, Any]  # JSON answered
    at: float  # time.monotonic() when received


@dataclass
class UpdateDelivery:
    """When an update was first handed to the bot (the benchmark's acknowledgement clock)."""

    update_id: int
    at: float  # time.monotonic() when a getUpdates answer first carried the update
    update: dict[str, Any]


class ApiError(Exception):
    """An error answer: raised by handlers, turned into ``{"ok": false, ...}``."""

    def __init__(self, status: int, description: str, parameters: JSON | None = None) -> None:
        super().__init__(description)
        self.status = status
        self.description = description
        self.parameters = parameters

    def body(self) -> JSON:
        out: JSON = {"ok": False, "error_code": self.status, "description": self.description}
        if self.parameters:
            out["parameters"] = self.parameters
        return out


def bad_request(text: str) -> ApiError:
    return ApiError(400, f"Bad Request: {text}")


# ---------------------------------------------------------------------------- text helpers


def utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


class EntityParseError(ValueError):
    """HTML that Telegram would refuse; the message follows tdlib's wording."""


_HTML_TAGS = frozenset(
    {"a", "b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "span", "tg-spoiler",
     "code", "pre", "blockquote", "tg-emoji"}
)
_SIMPLE_ENTITIES = {
    "b": "bold", "strong": "bold", "i": "italic", "em": "italic", "u": "underline",
    "ins": "underline", "s": "strikethrough", "strike": "strikethrough", "del": "strikethrough",
    "span": "spoiler", "tg-spoiler": "spoiler", "code": "code",
}
_HTML_ENTITY = re.compile(r"&(?:#x([0-9a-fA-F]+)|#([0-9]+)|([a-zA-Z]+));?")
_NAMED_ENTITIES = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}


@dataclass
class _OpenTag:
    name: str
    attrs: dict[str, str]
    offset: int  # UTF-16 offset in the output where the tag's content starts


class _HtmlParser:
    """Telegram's HTML parse mode (after tdlib's ``parse_html``)."""

    def __init__(self, src: str) -> None:
        self.src = src
        self.pos = 0
        self.out: list[str] = []
        self.utf16 = 0
        self.stack: list[_OpenTag] = []
        self.entities: list[JSON] = []

    def run(self) -> tuple[str, list[JSON]]:
        while self.pos < len(self.src):
            char = self.src[self.pos]
            if char == "&":
                self._entity()
            elif char == "<" and self.src.startswith("</", self.pos):
                self._end_tag()
            elif char == "<":
                self._start_tag()
            else:
                self._emit(char)
                self.pos += 1
        if self.stack:
            name = self.stack[-1].name
            raise EntityParseError(f'Can\'t find end tag corresponding to start tag "{name}"')
        self.entities.sort(key=lambda e: (e["offset"], -e["length"]))
        return "".join(self.out), self.entities

    def _emit(self, text: str) -> None:
        self.out.append(text)
        self.utf16 += utf16_len(text)

    def _byte(self, index: int) -> int:
        return len(self.src[:index].encode())

    def _fail(self, what: str, index: int) -> EntityParseError:
        return EntityParseError(f"{what} at byte offset {self._byte(index)}")

    def _entity(self) -> None:
        match = _HTML_ENTITY.match(self.src, self.pos)
        char = _decode_entity(match) if match else None
        if match is None or char is None:  # tdlib keeps an unknown "&..." as text
            self._emit("&")
            self.pos += 1
        else:
            self._emit(char)
            self.pos = match.end()

    def _skip_spaces(self, i: int) -> int:
        while i < len(self.src) and self.src[i].isspace():
            i += 1
        return i

    def _start_tag(self) -> None:
        begin, src = self.pos, self.src
        i = begin + 1
        while i < len(src) and not src[i].isspace() and src[i] != ">":
            i += 1
        if i >= len(src):
            raise self._fail("Unclosed start tag", begin)
        name = src[begin + 1 : i].lower()
        if name not in _HTML_TAGS:
            raise self._fail(f'Unsupported start tag "{name}"', begin)
        attrs, i = self._attributes(i, name, begin)
        if name == "span" and attrs.get("class") != "tg-spoiler":
            raise self._fail('Tag "span" must have class "tg-spoiler"', begin)
        self.stack.append(_OpenTag(name, attrs, self.utf16))
        self.pos = i + 1

    def _attributes(self, i: int, tag: str, begin: int) -> tuple[dict[str, str], int]:
        src, attrs = self.src, dict[str, str]()
        while True:
            i = self._skip_spaces(i)
            if i >= len(src):
                raise self._fail("Unclosed start tag", begin)
            if src[i] == ">":
                return attrs, i
            name_start = i
            while i < len(src) and not src[i].isspace() and src[i] not in "=>":
                i += 1
            attr = src[name_start:i].lower()
            i = self._skip_spaces(i)
            if i < len(src) and src[i] != "=" and tag == "blockquote" and attr == "expandable":
                attrs[attr] = ""
                continue
            if not attr or i >= len(src) or src[i] != "=":
                what = f'Expected equal sign in declaration of an attribute of the tag "{tag}"'
                raise self._fail(what, begin)
            i = self._skip_spaces(i + 1)
            if i >= len(src):
                raise self._fail("Unclosed start tag", begin)
            attrs[attr], i = self._attribute_value(i, begin)

    def _attribute_value(self, i: int, begin: int) -> tuple[str, int]:
        src = self.src
        if src[i] not in "'\"":
            start = i
            while i < len(src) and (src[i].isalnum() or src[i] in ".-"):
                i += 1
            if i < len(src) and not src[i].isspace() and src[i] != ">":
                raise self._fail("Unexpected end of name token", i)
            return src[start:i].lower(), i
        quote, i, value = src[i], i + 1, []
        while i < len(src) and src[i] != quote:
            match = _HTML_ENTITY.match(src, i) if src[i] == "&" else None
            char = _decode_entity(match) if match else None
            if match is not None and char is not None:
                value.append(char)
                i = match.end()
            else:
                value.append(src[i])
                i += 1
        if i >= len(src):
            raise self._fail("Unclosed start tag", begin)
        return "".join(value), i + 1

    def _end_tag(self) -> None:
        begin, src = self.pos, self.src
        if not self.stack:
            raise self._fail("Unexpected end tag", begin)
        i = begin + 2
        while i < len(src) and not src[i].isspace() and src[i] != ">":
            i += 1
        end_name = src[begin + 2 : i].lower()
        i = self._skip_spaces(i)
        if i >= len(src) or src[i] != ">":
            raise self._fail("Unclosed end tag", begin)
        top = self.stack.pop()
        if end_name and end_name != top.name:
            found = f'expected "</{top.name}>", found "</{end_name}>"'
            raise EntityParseError(f"Unmatched end tag at byte offset {self._byte(begin)}, {found}")
        self.pos = i + 1
        self._close(top)

    def _close(self, tag: _OpenTag) -> None:
        length = self.utf16 - tag.offset
        language = tag.attrs.get("class", "")
        in_pre = bool(self.stack) and self.stack[-1].name == "pre"
        if tag.name == "code" and language.startswith("language-") and in_pre:
            self.stack[-1].attrs["language"] = language.removeprefix("language-")
            return
        if length <= 0:
            return
        entity: JSON = {"offset": tag.offset, "length": length}
        if tag.name in _SIMPLE_ENTITIES:
            entity["type"] = _SIMPLE_ENTITIES[tag.name]
        elif tag.name == "a":
            entity.update(type="text_link", url=tag.attrs.get("href", ""))
        elif tag.name == "pre":
            entity["type"] = "pre"
            if tag.attrs.get("language"):
                entity["language"] = tag.attrs["language"]
        elif tag.name == "blockquote":
            expandable = "expandable" in tag.attrs
            entity["type"] = "expandable_blockquote" if expandable else "blockquote"
        else:  # tg-emoji
            entity.update(type="custom_emoji", custom_emoji_id=tag.attrs.get("emoji-id", ""))
        self.entities.append(entity)


def _decode_entity(match: re.Match[str]) -> str | None:
    hex_code, dec_code, name = match.groups()
    if name is not None:
        return _NAMED_ENTITIES.get(name)
    digits = hex_code if hex_code is not None else dec_code
    code = int(digits, 16 if hex_code is not None else 10)
    if len(digits) > 7 or not 0 < code < 0x10FFFF or 0xD800 <= code <= 0xDFFF:
        return None
    return chr(code)


def parse_html(src: str) -> tuple[str, list[JSON]]:
    """Plain text and entities of Telegram-HTML ``src``; raises EntityParseError."""
    return _HtmlParser(src).run()


def _strip_text(text: str, entities: list[JSON]) -> tuple[str, list[JSON]]:
    """Trim surrounding whitespace as Telegram does, shifting and clipping the entities."""
    stripped = text.strip()
    if not stripped:
        return "", []
    lead = utf16_len(text[: len(text) - len(text.lstrip())])
    total = utf16_len(stripped)
    out = []
    for entity in entities:
        start = max(int(entity["offset"]) - lead, 0)
        end = min(int(entity["offset"]) + int(entity["length"]) - lead, total)
        if end > start:
            out.append({**entity, "offset": start, "length": end - start})
    return stripped, out


def format_text(text: str, parse_mode: Any, entities: Any) -> tuple[str, list[JSON]]:
    """The stored text and entities of a sent text/caption (only HTML is parsed)."""
    if isinstance(parse_mode, str) and parse_mode.lower() == "html":
        try:
            plain, found = parse_html(text)
        except EntityParseError as exc:
            raise bad_request(f"can't parse entities: {exc}") from None
    else:
        plain = text
        found = [e for e in entities if isinstance(e, dict)] if isinstance(entities, list) else []
    return _strip_text(plain, found)


_COMMAND = re.compile(r"/[A-Za-z0-9_]{1,64}(?:@[A-Za-z0-9_]{3,32})?")


def command_entities(text: str) -> list[JSON]:
    match = _COMMAND.match(text)
    if match is None:
        return []
    return [{"type": "bot_command", "offset": 0, "length": utf16_len(match.group())}]


def image_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) of a PNG or JPEG, else None."""
    if data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) >= 24:
        width, height = struct.unpack(">II", data[16:24])
        return int(width), int(height)
    if not data.startswith(b"\xff\xd8"):
        return None
    i = 2
    while i + 9 < len(data):
        if data[i] != 0xFF:
            return None
        marker = data[i + 1]
        if marker == 0xFF or marker == 0x01 or 0xD0 <= marker <= 0xD8:
            i += 1 if marker == 0xFF else 2
            continue
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            height, width = struct.unpack(">HH", data[i + 5 : i + 9])
            return int(width), int(height)
        i += 2 + int(struct.unpack(">H", data[i + 2 : i + 4])[0])
    return None


# ---------------------------------------------------------------------------- stored state


@dataclass
class StoredMessage:
    data: JSON  # the Message dict as Telegram would return it
    from_bot: bool
    deleted: bool = False


@dataclass
class StoredChat:
    id: int
    type: str
    title: str | None = None
    first_name: str | None = None
    username: str | None = None
    is_forum: bool = False
    messages: dict[int, StoredMessage] = field(default_factory=dict)
    next_message_id: int = 1

    def as_dict(self) -> JSON:
        out: JSON = {"id": self.id, "type": self.type}
        if self.type == "private":
            out["first_name"] = self.first_name or "Alice"
        else:
            out["title"] = self.title or "Test group"
        if self.username:
            out["username"] = self.username
        if self.is_forum:
            out["is_forum"] = True
        return out

    def live(self, message_id: Any) -> StoredMessage | None:
        stored = self.messages.get(message_id) if isinstance(message_id, int) else None
        return stored if stored is not None and not stored.deleted else None

    def store(self, message: JSON, *, from_bot: bool) -> None:
        message_id = int(message["message_id"])
        self.messages[message_id] = StoredMessage(message, from_bot)
        self.next_message_id = max(self.next_message_id, message_id + 1)


@dataclass
class StoredFile:
    file_id: str
    file_unique_id: str
    data: bytes
    file_name: str | None = None
    width: int = DEFAULT_PHOTO_SIDE
    height: int = DEFAULT_PHOTO_SIDE

    def photo_size(self) -> JSON:
        return {
            "file_id": self.file_id, "file_unique_id": self.file_unique_id,
            "width": self.width, "height": self.height, "file_size": len(self.data),
        }

    def document(self) -> JSON:
        name = self.file_name or "document"
        out: JSON = {"file_id": self.file_id, "file_unique_id": self.file_unique_id,
                     "file_name": name, "file_size": len(self.data)}
        mime, _ = mimetypes.guess_type(name)
        if mime:
            out["mime_type"] = mime
        return out


@dataclass
class _Fault:
    method: str
    status: int
    description: str
    retry_after: int | None
    times: int
    chat_id: int | None


@dataclass
class _Upload:
    data: bytes
    filename: str | None


@dataclass
class _Ctx:
    """A parsed request, handed to a method handler."""

    params: JSON
    files: dict[str, bytes]  # by parameter
    file_names: dict[str, str]  # by parameter
    uploads: dict[str, _Upload]  # by multipart part name
    target: StoredChat | None = None

    @property
    def chat(self) -> StoredChat:
        assert self.target is not None, "handler needs a chat"
        return self.target


def _decode_value(key: str, value: str) -> Any:
    if key in _STRING_FIELDS:
        return value
    text = value.strip()
    if text[:1] in ("{", "[") or text in ("true", "false", "null") or _NUMBER.fullmatch(text):
        with contextlib.suppress(ValueError):
            return json.loads(text)
    return value


async def _read_request(request: web.Request) -> _Ctx:
    raw: JSON = dict(request.query)
    uploads: dict[str, _Upload] = {}
    if request.content_type == "application/json":
        with contextlib.suppress(ValueError):
            body = await request.json() if request.body_exists else {}
            if isinstance(body, dict):
                raw.update(body)
    else:
        for key, value in (await request.post()).items():
            if isinstance(value, FileField):
                uploads[key] = _Upload(value.file.read(), value.filename)
            elif isinstance(value, bytes | bytearray):
                raw[key] = bytes(value).decode("utf-8", "replace")
            else:
                raw[key] = value
    params = {k: _decode_value(k, v) if isinstance(v, str) else v for k, v in raw.items()}
    files: dict[str, bytes] = {}
    names: dict[str, str] = {}
    for key, value in params.items():
        if isinstance(value, str) and value.startswith("attach://") and value[9:] in uploads:
            files[key] = uploads[value[9:]].data
            names[key] = uploads[value[9:]].filename or key
    attached = _attach_refs(params)  # nested ones (media arrays) are resolved by the handler
    for part, upload in uploads.items():  # a file posted directly under the parameter name
        if part not in attached and part not in files:
            files[part] = upload.data
            names[part] = upload.filename or part
    return _Ctx(params, files, names, uploads)


def _attach_refs(value: Any) -> set[str]:
    """Part names referenced as attach://<name> anywhere in a (decoded) value."""
    if isinstance(value, str):
        return {value[9:]} if value.startswith("attach://") else set()
    items = value.values() if isinstance(value, dict) else value if isinstance(value, list) else []
    return set().union(*(_attach_refs(item) for item in items))


def _as_int(value: Any, default: int) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def _inline_markup(markup: Any) -> JSON | None:
    """Telegram echoes only inline keyboards on messages."""
    return markup if isinstance(markup, dict) and "inline_keyboard" in markup else None


def _reply_copy(stored: StoredMessage) -> JSON:
    reply = copy.deepcopy(stored.data)
    reply.pop("reply_to_message", None)
    return reply


# ---------------------------------------------------------------------------- the emulator

Handler = Callable[[_Ctx], Any]


class TelegramEmulator:
    def __init__(
        self,
        *,
        token: str = "123456:TEST-token",
        bot_id: int = 123456,
        bot_username: str = "ourbot",
    ) -> None:
        self.token = token
        self.bot_id = bot_id
        self.bot_username = bot_username
        self.base_url = ""
        self.calls: list[ApiCall] = []
        self.group_flood_limit: tuple[int, float] | None = None
        self.private_flood_limit: tuple[int, float] | None = None
        self.flood_429s = 0
        #: simulated network round trip in seconds: half before a request is seen (and
        #: recorded), half before its answer leaves
        self.latency = 0.0
        #: the first getUpdates answer that carried each update, by update_id
        self.deliveries: dict[int, UpdateDelivery] = {}
        #: commands set with setMyCommands, by (scope as JSON, language_code)
        self.commands: dict[tuple[str, str], list[JSON]] = {}
        self.chats: dict[int, StoredChat] = {}
        self.files: dict[str, StoredFile] = {}
        self.updates: list[JSON] = []  # queued, not yet confirmed
        #: the webhook set with setWebhook (its parameters), None when there is none
        self.webhook: JSON | None = None
        self._next_update_id = 1
        self._next_file = 1
        self._callback_ids: set[str] = set()
        self._faults: list[_Fault] = []
        self._drops: dict[str, int] = {}
        self._blocked: dict[int, str] = {}
        self._migrated: dict[int, int] = {}
        self._sends: dict[int, deque[float]] = {}
        self._wake = asyncio.Event()
        self._poll_generation = 0
        self._stopping = False
        self._runner: web.AppRunner | None = None
        self._handlers: dict[str, Handler] = {
            "getme": lambda ctx: self.bot_user(full=True),
            "getwebhookinfo": self._get_webhook_info,
            "deletewebhook": self._delete_webhook,
            "setwebhook": self._set_webhook,
            "close": lambda ctx: True,
            "logout": lambda ctx: True,
            "setmessagereaction": lambda ctx: True,
            "setmycommands": self._set_my_commands,
            "deletemycommands": self._delete_my_commands,
            "getmycommands": lambda ctx: self.commands.get(self._commands_key(ctx.params), []),
            "answercallbackquery": self._answer_callback_query,
            "getchat": self._get_chat,
            "getfile": self._get_file,
            "sendmessage": self._send_message,
            "sendphoto": self._send_photo,
            "senddocument": self._send_document,
            "sendmediagroup": self._send_media_group,
            "sendchataction": self._send_chat_action,
            "editmessagetext": self._edit_message_text,
            "editmessagecaption": self._edit_message_caption,
            "editmessagereplymarkup": self._edit_message_reply_markup,
            "deletemessage": self._delete_message,
        }

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        self._stopping = False
        app = web.Application(client_max_size=UPLOAD_MAX_BYTES + 16 * 1024 * 1024)
        app.router.add_route("*", "/bot{token}/{method}", self._handle)
        app.router.add_get("/file/bot{token}/{path:.+}", self._download)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=2.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.base_url = f"http://127.0.0.1:{self._runner.addresses[0][1]}"

    async def stop(self) -> None:
        self._stopping = True
        self._notify()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    # ------------------------------------------------------------------ inspection

    def ok_calls(self, method: str, chat_id: int | None = None) -> list[ApiCall]:
        name = method.lower()
        return [
            call
            for call in self.calls
            if call.method == name
            and call.status == 200
            and (chat_id is None or call.params.get("chat_id") == chat_id)
        ]

    def photos(self, chat_id: int | None = None) -> list[ApiCall]:
        return self.ok_calls("sendPhoto", chat_id)

    def bot_messages(self, chat_id: int) -> list[dict[str, Any]]:
        chat = self.chats.get(chat_id)
        if chat is None:
            return []
        live = [m for m in chat.messages.values() if m.from_bot and not m.deleted]
        return [copy.deepcopy(m.data) for m in live]

    async def wait_for(
        self,
        predicate: Callable[[], bool],
        timeout: float = 10.0,  # noqa: ASYNC109 - part of the tests' interface
        what: str = "",
    ) -> None:
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() >= deadline:
                raise AssertionError(f"timed out waiting for {what}")
            await asyncio.sleep(0.02)

    def bot_user(self, *, full: bool = False) -> JSON:
        user: JSON = {"id": self.bot_id, "is_bot": True, "first_name": BOT_FIRST_NAME,
                      "username": self.bot_username}
        if full:
            user.update(can_join_groups=True, can_read_all_group_messages=False,
                        supports_inline_queries=False)
        return user

    # ------------------------------------------------------------------ injecting updates

    def user_message(
        self,
        *,
        chat_id: int,
        user_id: int,
        text: str | None = None,
        caption: str | None = None,
        chat_type: str = "private",
        reply_to_message_id: int | None = None,
        message_thread_id: int | None = None,
        is_forum: bool = False,
        language_code: str | None = "en",
        first_name: str = "Alice",
        username: str | None = None,
        with_photo: bool = False,
    ) -> int:
        chat = self._ensure_chat(chat_id, chat_type, first_name, username, is_forum)
        content: JSON = {}
        if text is not None:
            content["text"] = text
            if entities := command_entities(text):
                content["entities"] = entities
        if with_photo:
            photo = self._register_file(f"user-photo-{self._next_file}".encode(), None)
            content["photo"] = [photo.photo_size()]
        if caption is not None:
            content["caption"] = caption
            if entities := command_entities(caption):
                content["caption_entities"] = entities
        reply = None
        if reply_to_message_id is not None:
            stored = chat.live(reply_to_message_id)
            if stored is None:
                raise ValueError(f"no message {reply_to_message_id} in chat {chat_id}")
            reply = _reply_copy(stored)
        thread = message_thread_id
        if thread is None and reply is not None and chat.is_forum:
            thread = reply.get("message_thread_id")
        sender = self._user(user_id, first_name, username, language_code)
        message = self._new_message(chat, sender, content, thread, reply)
        chat.store(message, from_bot=False)
        self._queue({"message": message})
        return int(message["message_id"])

    def callback_query(
        self,
        *,
        chat_id: int,
        user_id: int,
        message_id: int,
        data: str,
        chat_type: str = "private",
        language_code: str | None = "en",
    ) -> str:
        chat = self._ensure_chat(chat_id, chat_type, "Alice", None, False)
        stored = chat.live(message_id)
        if stored is None:
            raise ValueError(f"no message {message_id} in chat {chat_id}")
        query_id = str(4_000_000_000_000 + len(self._callback_ids) + 1)
        self._callback_ids.add(query_id)
        self._queue({"callback_query": {
            "id": query_id,
            "from": self._user(user_id, "Alice", None, language_code),
            "message": copy.deepcopy(stored.data),
            "chat_instance": str(abs(chat_id) * 7 + 1),
            "data": data,
        }})
        return query_id

    def take_updates(self) -> list[JSON]:
        """Remove and return the queued updates (a webhook test posts them itself)."""
        taken, self.updates = self.updates, []
        return taken

    def raw_update(self, update: dict[str, Any]) -> int:
        update = copy.deepcopy(update)
        if "update_id" in update:
            self._next_update_id = max(self._next_update_id, int(update["update_id"]) + 1)
        else:
            update["update_id"] = self._next_update_id
            self._next_update_id += 1
        self._absorb(update)
        self.updates.append(update)
        self._notify()
        return int(update["update_id"])

    def chat_migrated(self, *, old_chat_id: int, new_chat_id: int) -> None:
        old = self.chats.get(old_chat_id)
        self._migrated[old_chat_id] = new_chat_id
        if new_chat_id not in self.chats:
            title = old.title if old is not None else None
            self.chats[new_chat_id] = StoredChat(new_chat_id, "supergroup", title=title)

    # ------------------------------------------------------------------ faults

    def fail_next(
        self,
        method: str,
        *,
        status: int,
        description: str,
        retry_after: int | None = None,
        times: int = 1,
        chat_id: int | None = None,
    ) -> None:
        fault = _Fault(method.lower(), status, description, retry_after, times, chat_id)
        self._faults.append(fault)

    def block_chat(
        self, chat_id: int, description: str = "Forbidden: bot was blocked by the user"
    ) -> None:
        self._blocked[chat_id] = description

    def drop_next_connection(self, method: str) -> None:
        self._drops[method.lower()] = self._drops.get(method.lower(), 0) + 1

    # ------------------------------------------------------------------ HTTP plumbing

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        if self.latency > 0:
            await asyncio.sleep(self.latency / 2)
        at = time.monotonic()
        method = request.match_info["method"].lower()
        ctx = await _read_request(request)
        call = ApiCall(method, ctx.params, ctx.files, 0, {}, at)
        self.calls.append(call)
        if request.match_info["token"] == self.token and self._drops.get(method, 0) > 0:
            self._drops[method] -= 1
            return await self._drop(request)
        try:
            if request.match_info["token"] != self.token:
                raise ApiError(401, "Unauthorized")
            body: JSON = {"ok": True, "result": await self._perform(method, ctx, at)}
            status = 200
        except ApiError as exc:
            body, status = exc.body(), exc.status
        call.status, call.response = status, body
        if self.latency > 0 and not self._stopping:
            await asyncio.sleep(self.latency / 2)
        return web.json_response(body, status=status)

    async def _drop(self, request: web.Request) -> web.StreamResponse:
        if request.transport is not None:
            request.transport.abort()
        raise asyncio.CancelledError  # nothing is written back

    async def _download(self, request: web.Request) -> web.StreamResponse:
        if request.match_info["token"] != self.token:
            return web.json_response(ApiError(401, "Unauthorized").body(), status=401)
        for stored in self.files.values():
            if f"files/{stored.file_unique_id}" == request.match_info["path"]:
                return web.Response(body=stored.data)
        return web.json_response(ApiError(404, "Not Found").body(), status=404)

    async def _perform(self, method: str, ctx: _Ctx, at: float) -> Any:
        if method != "getupdates" and method not in self._handlers:
            raise ApiError(404, "Not Found: method not found")
        self._raise_fault(method, ctx.params.get("chat_id"))
        if method == "getupdates":
            return await self._get_updates(ctx.params)
        if method in CHAT_METHODS:
            ctx.target = self._target_chat(ctx.params.get("chat_id"))
        if method in CREATING_METHODS:
            self._check_flood(ctx.chat.id, at)
        result = self._handlers[method](ctx)
        if method in CREATING_METHODS:
            count = len(result) if isinstance(result, list) else 1
            self._sends.setdefault(ctx.chat.id, deque()).extend([at] * count)
        return result

    def _raise_fault(self, method: str, chat_id: Any) -> None:
        for fault in self._faults:
            if fault.method == method and fault.chat_id in (None, chat_id):
                fault.times -= 1
                if fault.times <= 0:
                    self._faults.remove(fault)
                params = {"retry_after": fault.retry_after} if fault.retry_after else None
                raise ApiError(fault.status, fault.description, params)

    def _target_chat(self, chat_id: Any) -> StoredChat:
        if chat_id is None or chat_id == "":
            raise bad_request("chat_id is empty")
        if chat_id in self._migrated:
            raise ApiError(400, MIGRATED, {"migrate_to_chat_id": self._migrated[chat_id]})
        if chat_id in self._blocked:
            raise ApiError(403, self._blocked[chat_id])
        chat = self.chats.get(chat_id) if isinstance(chat_id, int) else None
        if chat is None:
            raise bad_request("chat not found")
        return chat

    def _check_flood(self, chat_id: int, now: float) -> None:
        limit = self.group_flood_limit if chat_id < 0 else self.private_flood_limit
        if limit is None:
            return
        max_sends, window = limit
        sends = self._sends.setdefault(chat_id, deque())
        while sends and sends[0] <= now - window:
            sends.popleft()
        if len(sends) >= max_sends:
            retry_after = max(1, math.ceil(sends[0] + window - now))
            self.flood_429s += 1
            raise ApiError(
                429, f"Too Many Requests: retry after {retry_after}", {"retry_after": retry_after}
            )

    # ------------------------------------------------------------------ updates

    def _notify(self) -> None:
        self._wake.set()
        self._wake = asyncio.Event()

    def _queue(self, payload: JSON) -> int:
        return self.raw_update(payload)

    async def _get_updates(self, params: JSON) -> list[JSON]:
        if self.webhook is not None:
            raise ApiError(409, "Conflict: can't use getUpdates method while webhook is active; "
                                "use deleteWebhook to delete the webhook first")
        self._poll_generation += 1
        generation = self._poll_generation
        self._notify()  # an older long poll answers 409
        self._confirm(_as_int(params.get("offset"), 0))
        limit = min(max(_as_int(params.get("limit"), 100), 1), 100)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + max(_as_int(params.get("timeout"), 0), 0)
        while True:
            if generation != self._poll_generation:
                raise ApiError(409, CONFLICT)
            remaining = deadline - loop.time()
            if self.updates or self._stopping or remaining <= 0:
                batch = self.updates[:limit]
                now = time.monotonic()
                for update in batch:
                    update_id = int(update["update_id"])
                    if update_id not in self.deliveries:
                        self.deliveries[update_id] = UpdateDelivery(update_id, now, update)
                return copy.deepcopy(batch)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), remaining)

    def _confirm(self, offset: int) -> None:
        if offset > 0:
            self.updates = [u for u in self.updates if int(u["update_id"]) >= offset]
        elif offset < 0:
            self.updates = self.updates[offset:]

    def _absorb(self, update: JSON) -> None:
        """Learn the chats, messages and callback query ids that a raw update carries."""
        query = update.get("callback_query")
        if isinstance(query, dict):
            self._callback_ids.add(str(query.get("id")))
        for key in ("message", "edited_message", "channel_post", "callback_query"):
            message = update.get(key)
            if key == "callback_query":
                message = message.get("message") if isinstance(message, dict) else None
            if not isinstance(message, dict) or not isinstance(message.get("chat"), dict):
                continue
            chat = self._chat_from_dict(message["chat"])
            message_id = message.get("message_id")
            if isinstance(message_id, int) and message_id not in chat.messages:
                sender = message.get("from")
                from_bot = isinstance(sender, dict) and sender.get("id") == self.bot_id
                chat.store(copy.deepcopy(message), from_bot=from_bot)

    def _chat_from_dict(self, data: JSON) -> StoredChat:
        chat_id = int(data["id"])
        if chat_id not in self.chats:
            self.chats[chat_id] = StoredChat(
                chat_id, str(data.get("type", "private")), title=data.get("title"),
                first_name=data.get("first_name"), username=data.get("username"),
                is_forum=bool(data.get("is_forum")),
            )
        return self.chats[chat_id]

    # ------------------------------------------------------------------ building messages

    def _user(self, user_id: int, first_name: str, username: str | None, lang: str | None) -> JSON:
        user: JSON = {"id": user_id, "is_bot": False, "first_name": first_name}
        if lang is not None:
            user["language_code"] = lang
        if username is not None:
            user["username"] = username
        return user

    def _ensure_chat(
        self, chat_id: int, chat_type: str, first_name: str, username: str | None, is_forum: bool
    ) -> StoredChat:
        chat = self.chats.get(chat_id)
        if chat is None:
            private = chat_type == "private"
            chat = StoredChat(
                chat_id, chat_type, title=None if private else "Test group",
                first_name=first_name if private else None,
                username=username if private else None, is_forum=is_forum and not private,
            )
            self.chats[chat_id] = chat
        elif is_forum:
            chat.is_forum = True
        return chat

    def _new_message(
        self, chat: StoredChat, sender: JSON, content: JSON, thread: Any, reply: JSON | None
    ) -> JSON:
        message: JSON = {"message_id": chat.next_message_id, "from": sender,
                         "chat": chat.as_dict(), "date": int(time.time())}
        chat.next_message_id += 1
        if isinstance(thread, int):
            message["message_thread_id"] = thread
            if chat.is_forum:
                message["is_topic_message"] = True
        if reply is not None:
            message["reply_to_message"] = reply
        message.update(content)
        return message

    def _resolve_reply(self, chat: StoredChat, params: JSON) -> JSON | None:
        options = params.get("reply_parameters")
        if isinstance(options, dict):
            message_id = options.get("message_id")
            allow = options.get("allow_sending_without_reply",
                                params.get("allow_sending_without_reply"))
            other = options.get("chat_id")
            target = self.chats.get(other) if isinstance(other, int) else chat
        elif params.get("reply_to_message_id") is not None:
            message_id = params["reply_to_message_id"]
            allow = params.get("allow_sending_without_reply")
            target = chat
        else:
            return None
        stored = target.live(message_id) if target is not None else None
        if stored is not None:
            return _reply_copy(stored)
        if allow is True:
            return None
        raise bad_request("message to be replied not found")

    def _deliver(self, ctx: _Ctx, content: JSON) -> JSON:
        """Post a bot message into ctx.chat: reply, topic and inline keyboard from params."""
        chat, params = ctx.chat, ctx.params
        reply = self._resolve_reply(chat, params)
        thread = None
        if chat.is_forum:
            thread = params.get("message_thread_id")
            if thread is None and reply is not None:
                thread = reply.get("message_thread_id")
        message = self._new_message(chat, self.bot_user(), content, thread, reply)
        if markup := _inline_markup(params.get("reply_markup")):
            message["reply_markup"] = markup
        chat.store(message, from_bot=True)
        return copy.deepcopy(message)

    def _text_content(self, params: JSON) -> JSON:
        text = params.get("text")
        if text is None or text == "":
            raise bad_request("message text is empty")
        plain, entities = format_text(str(text), params.get("parse_mode"), params.get("entities"))
        if not plain:
            raise bad_request("message text is empty")
        if utf16_len(plain) > TEXT_LIMIT:
            raise bad_request("message is too long")
        return {"text": plain, "entities": entities} if entities else {"text": plain}

    def _caption_content(self, params: JSON) -> JSON:
        caption = params.get("caption")
        if caption is None or caption == "":
            return {}
        plain, entities = format_text(
            str(caption), params.get("parse_mode"), params.get("caption_entities")
        )
        if utf16_len(plain) > CAPTION_LIMIT:
            raise bad_request("message caption is too long")
        out: JSON = {"caption": plain} if plain else {}
        if entities:
            out["caption_entities"] = entities
        return out

    # ------------------------------------------------------------------ files

    def _register_file(self, data: bytes, file_name: str | None) -> StoredFile:
        number = self._next_file
        self._next_file += 1
        stored = StoredFile(f"AgACAgIAAxkBAAI{number:06d}", f"AQAD{number:06d}", data, file_name)
        if size := image_size(data):
            stored.width, stored.height = size
        self.files[stored.file_id] = stored
        return stored

    def _input_file(self, ctx: _Ctx, param: str, kind: str) -> StoredFile:
        data = ctx.files.get(param)
        if data is not None:
            return self._upload(data, ctx.file_names.get(param), kind)
        reference = ctx.params.get(param)
        if isinstance(reference, str) and reference.startswith("attach://"):
            part = ctx.uploads.get(reference[9:])
            if part is not None:
                return self._upload(part.data, part.filename, kind)
        if isinstance(reference, str) and reference:
            if reference in self.files:
                return self.files[reference]
            raise bad_request("wrong file identifier/HTTP URL specified")
        raise bad_request(f"there is no {kind} in the request")

    def _upload(self, data: bytes, file_name: str | None, kind: str) -> StoredFile:
        if not data:
            raise bad_request("file must be non-empty")
        if len(data) > UPLOAD_MAX_BYTES:
            raise ApiError(413, "Request Entity Too Large")
        if kind == "photo":
            if len(data) > PHOTO_MAX_BYTES:
                raise bad_request("PHOTO_SAVE_FILE_INVALID")
            size = image_size(data)
            if size and (sum(size) > 10000 or max(size) > 20 * max(min(size), 1)):
                raise bad_request("PHOTO_INVALID_DIMENSIONS")
        return self._register_file(data, file_name)

    # ------------------------------------------------------------------ method handlers

    def _send_message(self, ctx: _Ctx) -> JSON:
        return self._deliver(ctx, self._text_content(ctx.params))

    def _send_photo(self, ctx: _Ctx) -> JSON:
        photo = self._input_file(ctx, "photo", "photo")
        caption = self._caption_content(ctx.params)
        return self._deliver(ctx, {"photo": [photo.photo_size()], **caption})

    def _send_document(self, ctx: _Ctx) -> JSON:
        document = self._input_file(ctx, "document", "document")
        caption = self._caption_content(ctx.params)
        return self._deliver(ctx, {"document": document.document(), **caption})

    def _send_media_group(self, ctx: _Ctx) -> list[JSON]:
        media = ctx.params.get("media")
        if not isinstance(media, list) or not 2 <= len(media) <= 10:
            raise bad_request("wrong number of media specified")
        contents = []
        for index, item in enumerate(media):
            kind = item.get("type") if isinstance(item, dict) else None
            if kind not in ("photo", "document"):
                raise bad_request(f"unsupported media type in media #{index}")
            sub = _Ctx({"media": item.get("media")}, {}, {}, ctx.uploads)
            stored = self._input_file(sub, "media", str(kind))
            if isinstance(item.get("media"), str) and item["media"].startswith("attach://"):
                ctx.files[f"media.{index}"] = stored.data
            body = [stored.photo_size()] if kind == "photo" else stored.document()
            contents.append({str(kind): body, **self._caption_content(item)})
        group_id = str(10_000_000 + self._next_file)
        return [self._deliver(ctx, {**c, "media_group_id": group_id}) for c in contents]

    def _send_chat_action(self, ctx: _Ctx) -> bool:
        if ctx.params.get("action") not in CHAT_ACTIONS:
            raise bad_request("wrong parameter action in request")
        return True

    def _editable(self, ctx: _Ctx) -> StoredMessage:
        stored = ctx.chat.live(ctx.params.get("message_id"))
        if stored is None:
            raise bad_request("message to edit not found")
        if not stored.from_bot:
            raise bad_request("message can't be edited")
        return stored

    def _apply_edit(self, stored: StoredMessage, content: JSON, markup: Any) -> JSON:
        data = stored.data
        new_markup = _inline_markup(markup)
        same_content = all((data.get(k) or None) == (v or None) for k, v in content.items())
        if same_content and data.get("reply_markup") == new_markup:
            raise bad_request(NOT_MODIFIED)
        for key, value in content.items():
            if value in (None, [], ""):
                data.pop(key, None)
            else:
                data[key] = value
        data.pop("reply_markup", None)
        if new_markup is not None:
            data["reply_markup"] = new_markup
        data["edit_date"] = int(time.time())
        return copy.deepcopy(data)

    def _edit_message_text(self, ctx: _Ctx) -> JSON:
        stored = self._editable(ctx)
        if "text" not in stored.data:
            raise bad_request("there is no text in the message to edit")
        content = {"entities": [], **self._text_content(ctx.params)}
        return self._apply_edit(stored, content, ctx.params.get("reply_markup"))

    def _edit_message_caption(self, ctx: _Ctx) -> JSON:
        stored = self._editable(ctx)
        if "text" in stored.data:
            raise bad_request("there is no caption in the message to edit")
        content = {"caption": "", "caption_entities": [], **self._caption_content(ctx.params)}
        return self._apply_edit(stored, content, ctx.params.get("reply_markup"))

    def _edit_message_reply_markup(self, ctx: _Ctx) -> JSON:
        return self._apply_edit(self._editable(ctx), {}, ctx.params.get("reply_markup"))

    def _delete_message(self, ctx: _Ctx) -> bool:
        stored = ctx.chat.live(ctx.params.get("message_id"))
        if stored is None:
            raise bad_request("message to delete not found")
        stored.deleted = True
        return True

    def _answer_callback_query(self, ctx: _Ctx) -> bool:
        if str(ctx.params.get("callback_query_id")) not in self._callback_ids:
            raise bad_request(QUERY_INVALID)
        return True

    def _get_chat(self, ctx: _Ctx) -> JSON:
        return self._target_chat(ctx.params.get("chat_id")).as_dict()

    def _get_file(self, ctx: _Ctx) -> JSON:
        stored = self.files.get(str(ctx.params.get("file_id")))
        if stored is None:
            raise bad_request("invalid file_id")
        path = f"files/{stored.file_unique_id}"
        return {"file_id": stored.file_id, "file_unique_id": stored.file_unique_id,
                "file_size": len(stored.data), "file_path": path}

    def _set_webhook(self, ctx: _Ctx) -> bool:
        url = ctx.params.get("url")
        if not isinstance(url, str) or not url:
            self.webhook = None  # an empty url removes the webhook
            return True
        if not url.startswith(("https://", "http://")):
            raise bad_request("bad webhook: An HTTPS URL must be provided for webhook")
        secret = ctx.params.get("secret_token")
        if secret is not None and not re.fullmatch(r"[A-Za-z0-9_-]{1,256}", str(secret)):
            raise bad_request("bad webhook: secret token contains unallowed characters")
        self.webhook = dict(ctx.params)
        return True

    def _delete_webhook(self, ctx: _Ctx) -> bool:
        self.webhook = None
        if ctx.params.get("drop_pending_updates") is True:
            self.updates = []
        return True

    def _get_webhook_info(self, ctx: _Ctx) -> JSON:
        info: JSON = {"url": "", "has_custom_certificate": False,
                      "pending_update_count": len(self.updates)}
        if self.webhook is not None:
            info["url"] = self.webhook["url"]
            if self.webhook.get("allowed_updates") is not None:
                info["allowed_updates"] = self.webhook["allowed_updates"]
        return info

    @staticmethod
    def _commands_key(params: JSON) -> tuple[str, str]:
        scope = params.get("scope") or {"type": "default"}
        return json.dumps(scope, sort_keys=True), str(params.get("language_code") or "")

    def _set_my_commands(self, ctx: _Ctx) -> bool:
        commands = ctx.params.get("commands")
        if not isinstance(commands, list):
            raise bad_request("commands must be an array")
        self.commands[self._commands_key(ctx.params)] = commands
        return True

    def _delete_my_commands(self, ctx: _Ctx) -> bool:
        self.commands.pop(self._commands_key(ctx.params), None)
        return True
