"""Captions (UTF-16 measure, HTML), languages, log redaction and `/draw` prompt selection."""

from __future__ import annotations

import asyncio
import html
import logging
import re
import sys
from dataclasses import replace

import pytest
from aiogram.types import BufferedInputFile
from hypothesis import given
from hypothesis import strategies as st

from bot import texts
from bot.generation.delivery import (
    CAPTION_LIMIT,
    Delivered,
    Delivery,
    build_caption,
    cut_utf16,
    utf16_len,
)
from bot.generation.limiter import ChatLimits
from bot.logging_setup import REDACTED, RedactingFormatter
from bot.prompt import MAX_PROMPT_CHARS, MAX_SEED, DrawOptions, PromptError, PromptProblem
from handlers.draw import parse_draw
from storage.models import Job, JobState

EMOJI = "😀"  # U+1F600: two UTF-16 units


def make_job(prompt: str, options: DrawOptions | None = None) -> Job:
    return Job(
        id=1, request_key="1:1", chat_id=1, thread_id=None, user_id=1, message_id=1,
        language="en", prompt=prompt, options=(options or DrawOptions()).to_json(),
        state=JobState.GENERATED, reason=None, operation_id="op", attempts=1,
        status_message_id=None, day="2026-11-25", created_at=0.0, updated_at=0.0,
        deadline_at=600.0, submitted_at=1.0, generated_at=2.0, finished_at=None,
    )


def visible(caption: str) -> str:
    """What Telegram counts: the text after entity parsing."""
    return html.unescape(re.sub(r"</?[a-z]+>", "", caption))


# --- UTF-16 ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "length"),
    [("", 0), ("abc", 3), ("привет", 6), (EMOJI, 2), (f"a{EMOJI}b", 4), ("👍🏽", 4),
     ("\U00010348", 2), ("é", 1)],
)
def test_utf16_len(value: str, length: int) -> None:
    assert utf16_len(value) == length


def test_cut_utf16_short_value_unchanged() -> None:
    assert cut_utf16("hello", 5) == "hello"
    assert cut_utf16(EMOJI * 3, 6) == EMOJI * 3


def test_cut_utf16_counts_astral_as_two() -> None:
    value = EMOJI * 10  # 20 units
    cut = cut_utf16(value, 10)
    assert cut.endswith("…")
    assert utf16_len(cut) <= 10
    assert cut == EMOJI * 4 + "…"  # 8 + 1 units: a fifth emoji would need 2 more


def test_cut_utf16_ascii() -> None:
    cut = cut_utf16("abcdefghij", 5)
    assert cut == "abcd…"


def test_cut_utf16_strips_before_the_ellipsis() -> None:
    assert cut_utf16("abc   defghij", 6) == "abc…"


@given(value=st.text(), limit=st.integers(1, 300))
def test_cut_utf16_property(value: str, limit: int) -> None:
    cut = cut_utf16(value, limit)
    assert utf16_len(cut) <= limit
    if utf16_len(value) <= limit:
        assert cut == value
    else:
        assert cut.endswith("…")
        assert value.startswith(cut[:-1])


# --- captions --------------------------------------------------------------------------------


def test_caption_without_options_is_the_escaped_prompt() -> None:
    caption = build_caption(make_job('a <b>bold</b> & "quoted" cat'))
    assert "<b>" not in caption
    assert "&lt;b&gt;bold&lt;/b&gt; &amp;" in caption
    assert visible(caption) == 'a <b>bold</b> & "quoted" cat'
    assert "<code>" not in caption


def test_caption_escapes_and_has_a_code_footer() -> None:
    job = make_job('<b>&"', DrawOptions(aspect=(16, 9), seed=42))
    caption = build_caption(job)
    prompt_part, footer = caption.split("\n\n")
    assert prompt_part.startswith("&lt;b&gt;&amp;")
    assert html.unescape(prompt_part) == '<b>&"'
    assert footer == "<code>--ar 16:9 --seed 42</code>"


@pytest.mark.parametrize(
    ("options", "footer"),
    [
        (DrawOptions(aspect=(1, 1)), "--ar 1:1"),
        (DrawOptions(seed=0), "--seed 0"),
        (DrawOptions(aspect=(9, 16), seed=MAX_SEED), f"--ar 9:16 --seed {MAX_SEED}"),
    ],
)
def test_caption_footer_reproduces_the_options(options: DrawOptions, footer: str) -> None:
    caption = build_caption(make_job("a cat", options))
    assert caption == f"a cat\n\n<code>{footer}</code>"


@pytest.mark.parametrize(
    "prompt",
    [EMOJI * MAX_PROMPT_CHARS, "&" * MAX_PROMPT_CHARS, "<" * MAX_PROMPT_CHARS,
     "👍🏽" * (MAX_PROMPT_CHARS // 2), "a" * MAX_PROMPT_CHARS],
)
@pytest.mark.parametrize(
    "options", [DrawOptions(), DrawOptions(aspect=(100, 100), seed=MAX_SEED)]
)
def test_caption_fits_telegram_limit(prompt: str, options: DrawOptions) -> None:
    caption = build_caption(make_job(prompt, options))
    assert utf16_len(visible(caption)) <= CAPTION_LIMIT
    if options.seed is not None:
        assert caption.endswith(f"<code>--ar 100:100 --seed {MAX_SEED}</code>")


def test_long_emoji_caption_is_cut_with_ellipsis() -> None:
    options = DrawOptions(aspect=(16, 9), seed=MAX_SEED)
    caption = build_caption(make_job(EMOJI * MAX_PROMPT_CHARS, options))
    text = visible(caption)
    prompt_part = text.split("\n\n")[0]
    assert prompt_part.endswith("…")
    assert utf16_len(text) <= CAPTION_LIMIT
    assert utf16_len(text) >= CAPTION_LIMIT - 2  # cut no more than needed


@given(prompt=st.text(min_size=1, max_size=MAX_PROMPT_CHARS),
       seed=st.none() | st.integers(0, MAX_SEED))
def test_caption_property(prompt: str, seed: int | None) -> None:
    caption = build_caption(make_job(prompt, DrawOptions(aspect=(4, 1), seed=seed)))
    assert utf16_len(visible(caption)) <= CAPTION_LIMIT


# --- languages -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "language"),
    [("ru", "ru"), ("uk", "ru"), ("be", "ru"), ("kk", "ru"), ("ru-RU", "ru"), ("RU", "ru"),
     ("uk-UA", "ru"), ("en", "en"), ("de", "en"), (None, "en"), ("", "en"), ("en-US", "en"),
     ("pt-br", "en")],
)
def test_language_of(code: str | None, language: str) -> None:
    assert texts.language_of(code) == language


def test_texts_exist_in_both_languages() -> None:
    assert texts.text("ru", "working") != texts.text("en", "working")
    assert texts.text(None, "working") == texts.text("en", "working")
    assert texts.text("xx", "working") == texts.text("en", "working")


# --- log redaction ---------------------------------------------------------------------------

SECRET = "AQVN-very-secret-key"
TOKEN = "123456:AAE-bot-token"


def record(message: str, *args: object, exc: bool = False) -> logging.LogRecord:
    exc_info = sys.exc_info() if exc else None
    return logging.LogRecord("test", logging.ERROR, __file__, 1, message, args, exc_info)


def test_redacting_formatter_masks_message_and_args() -> None:
    formatter = RedactingFormatter([SECRET, TOKEN], "%(levelname)s %(message)s")
    text = formatter.format(record("key=%s token=%s", SECRET, TOKEN))
    assert SECRET not in text
    assert TOKEN not in text
    assert text == f"ERROR key={REDACTED} token={REDACTED}"


def test_redacting_formatter_masks_tracebacks() -> None:
    formatter = RedactingFormatter([SECRET])
    try:
        raise RuntimeError(f"request with Api-Key {SECRET} failed")
    except RuntimeError:
        text = formatter.format(record("it broke", exc=True))
    assert "Traceback" in text
    assert "RuntimeError" in text
    assert SECRET not in text
    assert f"Api-Key {REDACTED}" in text


def test_redacting_formatter_longest_secret_first() -> None:
    formatter = RedactingFormatter(["abcd", "abcdefgh"])
    assert formatter.redact("x abcdefgh y abcd") == f"x {REDACTED} y {REDACTED}"


def test_redacting_formatter_ignores_tiny_secrets() -> None:
    formatter = RedactingFormatter(["", "ab"])
    assert formatter.redact("ab cd") == "ab cd"


def test_redacting_formatter_through_a_logger() -> None:
    lines: list[str] = []

    class ListHandler(logging.Handler):
        def emit(self, entry: logging.LogRecord) -> None:
            lines.append(self.format(entry))

    handler = ListHandler()
    handler.setFormatter(RedactingFormatter([SECRET]))
    logger = logging.getLogger("tests.unit.redaction")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        logger.warning("header Authorization: Api-Key %s", SECRET)
    finally:
        logger.removeHandler(handler)
    assert lines == [f"header Authorization: Api-Key {REDACTED}"]


# --- /draw prompt selection ------------------------------------------------------------------


def test_own_prompt_wins_over_reply() -> None:
    parsed = parse_draw("a cat --seed 1", "a dog")
    assert parsed.text == "a cat"
    assert parsed.options.seed == 1


def test_empty_own_prompt_uses_replied_text() -> None:
    parsed = parse_draw("", "a dog in the snow")
    assert parsed.text == "a dog in the snow"
    assert parsed.options == DrawOptions()


def test_own_options_apply_to_replied_text() -> None:
    parsed = parse_draw("--ar 16:9 --seed 5", "a dog")
    assert parsed.text == "a dog"
    assert parsed.options == DrawOptions(aspect=(16, 9), seed=5)


def test_own_options_win_over_replied_options() -> None:
    parsed = parse_draw("--seed 1", "a dog --seed 2")
    assert parsed.text == "a dog"
    assert parsed.options.seed == 1


@pytest.mark.parametrize(("own", "replied"), [("", None), ("", ""), ("  ", "   "),
                                              ("--seed 3", None), ("--ar wide", "  ")])
def test_empty_everywhere(own: str, replied: str | None) -> None:
    with pytest.raises(PromptError) as caught:
        parse_draw(own, replied)
    assert caught.value.problem is PromptProblem.EMPTY


def test_own_error_is_reported_even_with_a_reply() -> None:
    with pytest.raises(PromptError) as caught:
        parse_draw("a cat --ar 30:1", "a dog")
    assert caught.value.problem is PromptProblem.BAD_ASPECT


async def test_photos_to_one_chat_go_out_one_at_a_time() -> None:
    """A flood wait is slept by one sender, not stampeded by every job of the chat."""
    import asyncio as _asyncio
    from dataclasses import replace

    from bot.generation.delivery import Delivered, Delivery

    class SlowDelivery(Delivery):
        def __init__(self) -> None:
            super().__init__(bot=None,  # type: ignore[arg-type]  # no request reaches a bot
                             chat_limits=ChatLimits(private=(100, 1.0), group=(100, 1.0)))
            self.running: dict[int, int] = {}
            self.most: dict[int, int] = {}

        async def _send_photo(self, job: Job, image: bytes) -> Delivered:
            self.running[job.chat_id] = self.running.get(job.chat_id, 0) + 1
            self.most[job.chat_id] = max(self.most.get(job.chat_id, 0),
                                         self.running[job.chat_id])
            await _asyncio.sleep(0.01)
            self.running[job.chat_id] -= 1
            return Delivered()

    delivery = SlowDelivery()
    jobs = [replace(make_job("p"), id=n, chat_id=-100 if n % 2 else 5) for n in range(10)]
    results = await _asyncio.gather(*(delivery.send_photo(job, b"x") for job in jobs))
    assert all(isinstance(result, Delivered) for result in results)
    assert delivery.most == {-100: 1, 5: 1}
    assert delivery._chat_turns == {}  # nothing left behind


async def test_photos_overall_are_counted_from_their_send() -> None:
    from bot.generation.delivery import Delivered, Delivery
    from bot.generation.limiter import RollingWindowLimiter

    class SlowUploads(Delivery):
        def __init__(self) -> None:
            super().__init__(bot=None,  # type: ignore[arg-type]  # no request reaches a bot
                             chat_limits=ChatLimits(private=(100, 1.0), group=(100, 1.0)))
            self._overall = RollingWindowLimiter(3, 1.0)  # three photos in any second
            self.started: list[float] = []

        async def _send_photo(self, job: Job, image: bytes) -> Delivered:
            self.started.append(asyncio.get_running_loop().time())
            await asyncio.sleep(0.6)  # a slow upload
            return Delivered()

    delivery = SlowUploads()
    jobs = [replace(make_job("p"), id=n, chat_id=10 + n) for n in range(4)]
    await asyncio.gather(*(delivery.send_photo(job, b"x") for job in jobs))
    first, fourth = delivery.started[0], delivery.started[3]
    assert fourth - first >= 1.0  # never more than three in the window...
    assert fourth - first < 1.4  # ...counted from the sends (from the answers: >= 1.6 s)


async def test_a_photo_is_uploaded_in_one_chunk() -> None:
    class PhotoBot:
        def __init__(self) -> None:
            self.photos: list[BufferedInputFile] = []

        async def send_photo(self, chat_id: int, photo: BufferedInputFile, **_: object) -> None:
            self.photos.append(photo)

    bot = PhotoBot()
    delivery = Delivery(bot=bot,  # type: ignore[arg-type]  # what Delivery calls of it
                        chat_limits=ChatLimits(private=(100, 1.0), group=(100, 1.0)))
    image = bytes(range(256)) * 4096  # 1 MB
    assert isinstance(await delivery.send_photo(make_job("p"), image), Delivered)
    chunks = [chunk async for chunk in bot.photos[0].read(bot)]  # type: ignore[arg-type]
    assert chunks == [image]


# --- acknowledgements ------------------------------------------------------------------------


class AckBot:
    """Records the acknowledgement calls; reactions can be turned off as a chat can."""

    def __init__(self, *, reactions: bool = True) -> None:
        self.reactions = reactions
        self.calls: list[tuple[str, int]] = []

    async def send_message(self, chat_id: int, text: str, **_: object) -> object:
        from types import SimpleNamespace

        self.calls.append(("message", chat_id))
        return SimpleNamespace(message_id=500 + len(self.calls))

    async def set_message_reaction(self, chat_id: int, message_id: int,
                                   reaction: list[object], **_: object) -> bool:
        from aiogram.exceptions import TelegramBadRequest
        from aiogram.methods import SetMessageReaction
        from aiogram.types import ReactionTypeEmoji

        assert reaction == [ReactionTypeEmoji(emoji="✍")]
        if not self.reactions:
            raise TelegramBadRequest(SetMessageReaction(chat_id=chat_id, message_id=message_id),
                                     "Bad Request: REACTION_INVALID")
        self.calls.append(("reaction", chat_id))
        return True

    async def send_chat_action(self, chat_id: int, action: str, **_: object) -> bool:
        self.calls.append(("action", chat_id))
        return True


def ack_delivery(bot: AckBot) -> Delivery:
    limits = ChatLimits(private=(1, 0.3), group=(20, 60.0))
    return Delivery(bot, chat_limits=limits)  # type: ignore[arg-type]  # the calls it makes


async def test_a_group_is_acknowledged_with_a_reaction_and_a_private_chat_with_a_message() -> None:
    bot = AckBot()
    delivery = ack_delivery(bot)
    assert await delivery.acknowledge(replace(make_job("p"), chat_id=-100)) is None
    assert await delivery.acknowledge(replace(make_job("p"), chat_id=7)) == 502
    assert bot.calls == [("reaction", -100), ("message", 7)]


async def test_a_private_chat_that_just_got_messages_gets_a_reaction() -> None:
    bot = AckBot()
    delivery = ack_delivery(bot)  # one message per 0.3 s; a status message waits 1.5 s at most
    job = replace(make_job("p"), chat_id=7)
    acks = await asyncio.gather(*(delivery.acknowledge(job) for _ in range(8)))
    kinds = [kind for kind, _ in bot.calls]
    assert kinds[0] == "message" and "reaction" in kinds  # the queue grew past 1.5 s
    assert acks.count(None) == kinds.count("reaction")


async def test_without_reactions_a_group_gets_a_chat_action() -> None:
    bot = AckBot(reactions=False)
    delivery = ack_delivery(bot)
    assert await delivery.acknowledge(replace(make_job("p"), chat_id=-100)) is None
    assert bot.calls == [("action", -100)]
