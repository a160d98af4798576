"""End-to-end: admin commands, bans, the allow-list, overrides across restarts, command menus."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from storage.database import Database
from storage.models import JobState
from tests.e2e.harness import jobs_in, make_settings, replies_with, running_bot, texts_sent
from tests.fakes.telegram import TelegramEmulator
from tests.fakes.yandexart import YandexArtEmulator

ALICE, BOB, CAROL = 1001, 1002, 1003
ADMIN, OTHER_ADMIN = 4242, 4343
GROUP = -100500

ADMIN_COMMANDS = [
    "/stats", f"/setlimit {ALICE} 50", "/setlimit default 0", f"/grant {ALICE} 5",
    f"/ban {BOB}", f"/unban {BOB}", f"/allow {ALICE}", f"/disallow {ALICE}",
]


async def ask(telegram: TelegramEmulator, chat_id: int, user_id: int, text: str,
              **extra: object) -> str:
    """Send a command and wait for the bot's next message in that chat."""
    before = len(texts_sent(telegram, chat_id))
    telegram.user_message(chat_id=chat_id, user_id=user_id, text=text, **extra)  # type: ignore[arg-type]
    await telegram.wait_for(lambda: len(texts_sent(telegram, chat_id)) > before,
                            what=f"a reply to {text!r}")
    return texts_sent(telegram, chat_id)[before]


async def table_rows(database: Path, table: str) -> int:
    db = await Database.open(database)
    try:
        async with db.reading() as connection, connection.execute(
            f"SELECT count(*) FROM {table}"
        ) as cursor:
            row = await cursor.fetchone()
        return int(row[0]) if row else 0
    finally:
        await db.close()


async def test_admin_commands_are_silently_ignored_for_everyone_else(
    telegram: TelegramEmulator, yandex: YandexArtEmulator, db_path: Path
) -> None:
    settings = make_settings(telegram, yandex, db_path, admin_ids=str(ADMIN))
    async with running_bot(settings, telegram):
        for command in ADMIN_COMMANDS:
            telegram.user_message(chat_id=ALICE, user_id=ALICE, text=command)
            name, _, rest = command.partition(" ")
            telegram.user_message(chat_id=GROUP, user_id=ALICE, chat_type="supergroup",
                                  text=f"{name}@ourbot {rest}")
        # The bot is alive and answers what Alice may use.
        await ask(telegram, ALICE, ALICE, "/limits")
        await ask(telegram, GROUP, ALICE, "/limits@ourbot", chat_type="supergroup")
        await asyncio.sleep(0.3)
    assert len(texts_sent(telegram, ALICE)) == 1
    assert len(texts_sent(telegram, GROUP)) == 1
    for table in ("limit_overrides", "limit_grants", "bans", "allowlist"):
        assert await table_rows(db_path, table) == 0, table


async def test_overrides_and_grants_survive_a_restart(
    telegram: TelegramEmulator, yandex: YandexArtEmulator, db_path: Path
) -> None:
    settings = make_settings(telegram, yandex, db_path, daily_limit=5, admin_ids=str(ADMIN))
    async with running_bot(settings, telegram):
        reply = await ask(telegram, ADMIN, ADMIN, f"/setlimit {ALICE} 1")
        assert reply == f"Daily limit for user <code>{ALICE}</code>: 1 per day."
        reply = await ask(telegram, ADMIN, ADMIN, f"/setlimit {GROUP} off")
        assert reply == f"Daily limit for chat <code>{GROUP}</code>: unlimited."
        assert "every user without" in await ask(telegram, ADMIN, ADMIN, "/setlimit default 2")
        telegram.user_message(chat_id=ALICE, user_id=ALICE, text="/draw the only one")
        await telegram.wait_for(lambda: len(telegram.photos(ALICE)) == 1, what="Alice's photo")
        reply = await ask(telegram, ALICE, ALICE, "/draw one more")
        assert "all 1 images" in reply

    async with running_bot(settings, telegram):  # a restart: same database
        assert "all 1 images" in await ask(telegram, ALICE, ALICE, "/draw after restart")
        reply = await ask(telegram, ADMIN, ADMIN, f"/grant {ALICE} 2")
        assert reply == (f"User <code>{ALICE}</code> gets 2 extra images today "
                         "(2 extra in all).")
        for n in range(2):
            telegram.user_message(chat_id=ALICE, user_id=ALICE, text=f"/draw granted {n}")
        await telegram.wait_for(lambda: len(telegram.photos(ALICE)) == 3, what="two more")
        assert "all 3 images" in await ask(telegram, ALICE, ALICE, "/draw too many")
        # Bob has no override: the run-time default (2) applies, not DAILY_LIMIT (5).
        assert "of 2" in await ask(telegram, BOB, BOB, "/limits")
        reply = await ask(telegram, ADMIN, ADMIN, f"/setlimit {ALICE} reset")
        assert reply == (f"Daily limit for user <code>{ALICE}</code>: back to the default, now "
                         "2 per day.")
        reply = await ask(telegram, ADMIN, ADMIN, "/setlimit default reset")
        assert reply.endswith("now 5 per day.")
        # Back to DAILY_LIMIT (5), and today's grant (2) still counts: 3 of 7 used.
        limits = await ask(telegram, ALICE, ALICE, "/limits")
        assert "<b>4</b> of 7 (including 2 extra granted today)" in limits
    assert yandex.accepted_submits == 3


async def test_setlimit_by_reply_and_for_a_group(
    telegram: TelegramEmulator, yandex: YandexArtEmulator, db_path: Path
) -> None:
    settings = make_settings(telegram, yandex, db_path, admin_ids=str(ADMIN))
    async with running_bot(settings, telegram):
        said = telegram.user_message(chat_id=GROUP, user_id=BOB, chat_type="supergroup",
                                     text="hello everyone")
        reply = await ask(telegram, GROUP, ADMIN, "/setlimit@ourbot 0", chat_type="supergroup",
                          reply_to_message_id=said)
        assert reply == f"Daily limit for user <code>{BOB}</code>: 0 per day."
        reply = await ask(telegram, GROUP, ADMIN, "/setlimit@ourbot here 1",
                          chat_type="supergroup")
        assert reply == f"Daily limit for chat <code>{GROUP}</code>: 1 per day."
        reply = await ask(telegram, GROUP, BOB, "/draw@ourbot please", chat_type="supergroup")
        assert "Your daily limit is 0 images" in reply
        telegram.user_message(chat_id=GROUP, user_id=CAROL, chat_type="supergroup",
                              text="/draw@ourbot carol's")
        await telegram.wait_for(lambda: len(telegram.photos(GROUP)) == 1, what="Carol's photo")
        reply = await ask(telegram, GROUP, ALICE, "/draw@ourbot alice's", chat_type="supergroup")
        assert "This chat has used all 1 images" in reply


async def test_admin_input_errors_get_a_usage_reply(
    telegram: TelegramEmulator, yandex: YandexArtEmulator, db_path: Path
) -> None:
    settings = make_settings(telegram, yandex, db_path, admin_ids=str(ADMIN))
    async with running_bot(settings, telegram):
        cases = {
            "/setlimit": ("Whom do you mean", "Usage:"),
            "/setlimit @bob 5": ("who <code>@bob</code> is", "/setlimit default"),
            f"/setlimit {ALICE} lots": ("<code>lots</code> is not a valid number", "Usage:"),
            f"/setlimit {ALICE} -3": ("<code>-3</code> is not a valid number", "Usage:"),
            "/setlimit here 3": ("only works in a group", "Usage:"),
            f"/grant {ALICE} 0": ("<code>0</code> is not a valid number", "1 to 1000"),
            f"/grant {GROUP} 2": (f"<code>{GROUP}</code> is not a user", "/grant"),
            "/grant 5": ("Whom do you mean", "/grant"),
            "/ban": ("Whom do you mean", "/unban"),
            "/ban <b>x</b>": ("who <code>&lt;b&gt;x&lt;/b&gt;</code> is", "/ban"),
            "/allow": ("Whom do you mean", "/allow here"),
        }
        replies = {command: await ask(telegram, ADMIN, ADMIN, command) for command in cases}
        assert "cannot be banned" in await ask(telegram, ADMIN, ADMIN, f"/ban {ADMIN}")
    for command, (problem, usage) in cases.items():
        assert problem in replies[command], (command, replies[command])
        assert usage in replies[command], (command, replies[command])
    for table in ("limit_overrides", "limit_grants", "bans", "allowlist"):
        assert await table_rows(db_path, table) == 0, table


async def test_banned_user_is_ignored_until_unbanned(
    telegram: TelegramEmulator, yandex: YandexArtEmulator, db_path: Path
) -> None:
    yandex.paused = True
    settings = make_settings(telegram, yandex, db_path, admin_ids=str(ADMIN))
    async with running_bot(settings, telegram):
        telegram.user_message(chat_id=ALICE, user_id=ALICE, text="/draw before the ban")
        await telegram.wait_for(lambda: yandex.accepted_submits == 1, what="the submit")
        reply = await ask(telegram, ADMIN, ADMIN, f"/ban {ALICE}")
        assert reply == (f"User <code>{ALICE}</code> is banned: their commands are ignored. "
                         "Cancelled: 1.")
        assert "already banned" in await ask(telegram, ADMIN, ADMIN, f"/ban {ALICE}")
        sent_before = len(texts_sent(telegram, ALICE))
        for command in ("/draw banned", "/limits", "/cancel"):
            telegram.user_message(chat_id=ALICE, user_id=ALICE, text=command)
        telegram.user_message(chat_id=GROUP, user_id=ALICE, chat_type="supergroup",
                              text="/draw@ourbot in a group")
        await ask(telegram, BOB, BOB, "/limits")  # processed after Alice's: the bot is alive
        await asyncio.sleep(0.3)
        assert len(texts_sent(telegram, ALICE)) == sent_before
        assert texts_sent(telegram, GROUP) == []

        said = telegram.user_message(chat_id=GROUP, user_id=ALICE, chat_type="supergroup",
                                     text="please let me back")
        reply = await ask(telegram, GROUP, ADMIN, "/unban@ourbot", chat_type="supergroup",
                          reply_to_message_id=said)
        assert reply == f"User <code>{ALICE}</code> is no longer banned."
        yandex.paused = False
        telegram.user_message(chat_id=ALICE, user_id=ALICE, text="/draw welcome back")
        await telegram.wait_for(lambda: len(telegram.photos(ALICE)) == 1, what="the photo")
    states = sorted((job.prompt, job.state) for job in await jobs_in(db_path))
    assert states == [("before the ban", JobState.CANCELLED),
                      ("welcome back", JobState.DELIVERED)]


async def test_allowlist_refuses_once_then_stays_silent(
    telegram: TelegramEmulator, yandex: YandexArtEmulator, db_path: Path
) -> None:
    settings = make_settings(telegram, yandex, db_path, access_mode="allowlist",
                             admin_ids=str(ADMIN))
    async with running_bot(settings, telegram):
        for command in ("/draw a cat", "/draw a dog", "/limits"):
            telegram.user_message(chat_id=ALICE, user_id=ALICE, text=command)
        for user in (BOB, CAROL):  # one refusal for the whole group
            telegram.user_message(chat_id=GROUP, user_id=user, chat_type="supergroup",
                                  text="/draw@ourbot a group picture")
        await telegram.wait_for(lambda: len(texts_sent(telegram, ALICE)) == 1
                                and len(texts_sent(telegram, GROUP)) == 1, what="refusals")
        telegram.user_message(chat_id=ADMIN, user_id=ADMIN, text="/draw admins always may")
        await telegram.wait_for(lambda: len(telegram.photos(ADMIN)) == 1, what="admin's photo")
        assert len(texts_sent(telegram, ALICE)) == 1 and len(texts_sent(telegram, GROUP)) == 1

        assert await ask(telegram, ADMIN, ADMIN, f"/allow {ALICE}") == (
            f"user <code>{ALICE}</code> is now on the allow-list.")
        assert "was already" in await ask(telegram, ADMIN, ADMIN, f"/allow {ALICE}")
        telegram.user_message(chat_id=ALICE, user_id=ALICE, text="/draw allowed now")
        await telegram.wait_for(lambda: len(telegram.photos(ALICE)) == 1, what="Alice's photo")
        # An allowed user may draw in a group that is not on the list...
        telegram.user_message(chat_id=GROUP, user_id=ALICE, chat_type="supergroup",
                              text="/draw@ourbot alice in the group")
        await telegram.wait_for(lambda: len(telegram.photos(GROUP)) == 1, what="group photo")
        # ...and once the group is allowed, all its members may.
        reply = await ask(telegram, GROUP, ADMIN, "/allow@ourbot here", chat_type="supergroup")
        assert reply == f"chat <code>{GROUP}</code> is now on the allow-list."
        telegram.user_message(chat_id=GROUP, user_id=BOB, chat_type="supergroup",
                              text="/draw@ourbot bob in the group")
        await telegram.wait_for(lambda: len(telegram.photos(GROUP)) == 2, what="Bob's photo")
        assert await ask(telegram, ADMIN, ADMIN, f"/disallow {ALICE}") == (
            f"user <code>{ALICE}</code> is no longer on the allow-list.")
        # Disallowed again: told once more, then silence.
        telegram.user_message(chat_id=ALICE, user_id=ALICE, text="/draw once more")
        telegram.user_message(chat_id=ALICE, user_id=ALICE, text="/draw and again")
        await telegram.wait_for(lambda: len(replies_with(telegram, ALICE, "private")) == 2,
                                what="the second refusal")

    async with running_bot(settings, telegram):  # remembered across a restart
        telegram.user_message(chat_id=ALICE, user_id=ALICE, text="/draw after restart")
        telegram.user_message(chat_id=GROUP, user_id=CAROL, chat_type="supergroup",
                              text="/draw@ourbot carol in the allowed group")
        await telegram.wait_for(lambda: len(telegram.photos(GROUP)) == 3, what="Carol's photo")
        await asyncio.sleep(0.3)
    refusals = replies_with(telegram, ALICE, "private")
    assert len(refusals) == 2
    assert f"<code>{ALICE}</code>" in refusals[0]
    assert f"<code>{GROUP}</code>" in replies_with(telegram, GROUP, "private")[0]
    assert yandex.accepted_submits == 5


async def test_allow_in_open_mode_says_it_has_no_effect(
    telegram: TelegramEmulator, yandex: YandexArtEmulator, db_path: Path
) -> None:
    settings = make_settings(telegram, yandex, db_path, admin_ids=str(ADMIN))
    async with running_bot(settings, telegram):
        reply = await ask(telegram, ADMIN, ADMIN, f"/allow {GROUP}", language_code="ru")
    assert reply.startswith(f"Добавлен в список доступа: чат <code>{GROUP}</code>.")
    assert "ACCESS_MODE=allowlist" in reply


async def test_stats(
    telegram: TelegramEmulator, yandex: YandexArtEmulator, db_path: Path
) -> None:
    settings = make_settings(telegram, yandex, db_path, daily_limit=1, admin_ids=str(ADMIN))
    async with running_bot(settings, telegram):
        telegram.user_message(chat_id=GROUP, user_id=ALICE, chat_type="supergroup",
                              text="/draw@ourbot alice's")
        telegram.user_message(chat_id=BOB, user_id=BOB, text="/draw something forbidden")
        await telegram.wait_for(lambda: len(telegram.photos(GROUP)) == 1, what="the photo")
        await telegram.wait_for(lambda: len(telegram.ok_calls("editMessageText", BOB)) == 1,
                                what="the refusal")
        assert "all 1 images" in await ask(telegram, GROUP, ALICE, "/draw@ourbot again",
                                           chat_type="supergroup")
        reply = await ask(telegram, ADMIN, ADMIN, "/stats")
    today, week, now = reply.split("\n\n")
    assert today.startswith("<b>Today</b>")
    assert week.startswith("<b>Last 7 days</b>")
    for period in (today, week):
        assert ("Delivered: 1 · refused by YandexArt: 1 · failed: 0 · cancelled: 0 · "
                "undeliverable: 0") in period
        assert "Refunded: 1 · turned away by limits: 1 (user limit 1)" in period
        assert "Users: 2 · median generation time: " in period and " s" in period
        assert f"Top users: <code>{ALICE}</code> (1)" in period
        assert f"Top chats: <code>{GROUP}</code> (1)" in period
    assert now == "<b>Now</b>: 0 waiting in the queue, 0 generating or sending"


async def test_command_menus(
    telegram: TelegramEmulator, yandex: YandexArtEmulator, db_path: Path
) -> None:
    settings = make_settings(telegram, yandex, db_path, admin_ids=f"{ADMIN},{OTHER_ADMIN}")
    async with running_bot(settings, telegram):
        pass

    def menu(scope: dict[str, object], language: str = "") -> list[str]:
        key = (json.dumps(scope, sort_keys=True), language)
        return [str(command["command"]) for command in telegram.commands.get(key, [])]

    user_commands = ["draw", "limits", "cancel"]
    admin_commands = [*user_commands, "stats", "setlimit", "grant", "ban", "unban", "allow",
                      "disallow"]
    assert len(telegram.ok_calls("setMyCommands")) == 3 * 5  # 3 scopes x (default, ru uk be kk)
    for language in ("", "ru", "uk", "be", "kk"):
        assert menu({"type": "default"}, language) == user_commands
        for admin in (ADMIN, OTHER_ADMIN):
            assert menu({"type": "chat", "chat_id": admin}, language) == admin_commands
    ru = telegram.commands[(json.dumps({"type": "chat", "chat_id": ADMIN}, sort_keys=True),
                            "ru")]
    assert str(ru[0]["description"]).startswith("Нарисовать")


async def test_a_failed_command_menu_does_not_stop_the_bot(
    telegram: TelegramEmulator, yandex: YandexArtEmulator, db_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    telegram.fail_next("setMyCommands", status=400, description="Bad Request: chat not found",
                       times=3)
    settings = make_settings(telegram, yandex, db_path, admin_ids=f"{ADMIN},{OTHER_ADMIN}")
    async with running_bot(settings, telegram):
        telegram.user_message(chat_id=ALICE, user_id=ALICE, text="/draw still works")
        await telegram.wait_for(lambda: len(telegram.photos(ALICE)) == 1, what="the photo")
    # Each of the three scopes failed on its first language (so its second was skipped), was
    # logged, and the bot started anyway.
    assert telegram.ok_calls("setMyCommands") == []
    assert sum("could not set the command menu" in r.getMessage() for r in caplog.records) == 3
