"""End-to-end: the real bot, in-process, over real HTTP against both emulators."""

from __future__ import annotations

import asyncio
import html
import logging
from pathlib import Path
from typing import Any

import pytest

from bot.generation import limiter
from storage.admin import SqliteAccessRepository
from storage.database import Database
from storage.models import JobState
from tests.e2e.harness import (
    jobs_in,
    make_settings,
    reactions,
    replies_with,
    running_bot,
    texts_sent,
)
from tests.fakes.telegram import ApiCall, TelegramEmulator
from tests.fakes.yandexart import YandexArtEmulator

ALICE = 1001
BOB = 1002
GROUP = -100500


def replies_to(call: ApiCall, message_id: int) -> bool:
    reply: Any = call.params.get("reply_parameters") or {}
    return isinstance(reply, dict) and reply.get("message_id") == message_id


async def test_private_draw_delivers_photo_as_reply(
    telegram: TelegramEmulator, yandex: YandexArtEmulator, db_path: Path
) -> None:
    settings = make_settings(telegram, yandex, db_path)
    async with running_bot(settings, telegram):
        command = telegram.user_message(chat_id=ALICE, user_id=ALICE,
                                        text="/draw a red cat --ar 16:9 --seed 7")
        await telegram.wait_for(lambda: len(telegram.photos(ALICE)) == 1, what="the photo")
        await telegram.wait_for(lambda: len(telegram.ok_calls("deleteMessage", ALICE)) == 1,
                                what="the status message to go")
    photo = telegram.photos(ALICE)[0]
    assert replies_to(photo, command)
    assert photo.files["photo"][:3] == b"\xff\xd8\xff"
    assert photo.files["photo"] == yandex.operations[next(iter(yandex.operations))].image
    assert "a red cat" in str(photo.params["caption"])
    assert "--seed 7" in str(photo.params["caption"])
    body = yandex.submits()[0].body
    assert body is not None
    assert body["modelUri"] == f"art://{yandex.folder_id}/yandex-art/latest"
    assert body["messages"] == [{"text": "a red cat", "weight": 1}]
    assert int(body["generationOptions"]["seed"]) == 7
    assert body["generationOptions"]["aspectRatio"] == {"widthRatio": "16", "heightRatio": "9"}
    status = telegram.ok_calls("sendMessage", ALICE)[0]
    assert replies_to(status, command)
    assert telegram.ok_calls("deleteMessage", ALICE)[0].params["message_id"] == (
        status.response["result"]["message_id"])
    assert yandex.accepted_submits == 1
    [job] = await jobs_in(db_path)
    assert job.state is JobState.DELIVERED
    assert job.operation_id == next(iter(yandex.operations))


async def test_group_command_addressed_to_us_or_another_bot(
    telegram: TelegramEmulator, yandex: YandexArtEmulator, db_path: Path
) -> None:
    settings = make_settings(telegram, yandex, db_path)
    async with running_bot(settings, telegram):
        telegram.user_message(chat_id=GROUP, user_id=BOB, chat_type="supergroup",
                              text="/draw@other_bot a dog")
        ours = telegram.user_message(chat_id=GROUP, user_id=ALICE, chat_type="supergroup",
                                     text="/draw@OurBot a lighthouse")
        await telegram.wait_for(lambda: len(telegram.photos(GROUP)) == 1, what="the photo")
        await asyncio.sleep(0.3)
    assert len(telegram.photos(GROUP)) == 1
    assert replies_to(telegram.photos(GROUP)[0], ours)
    assert [r.body["messages"][0]["text"] for r in yandex.submits() if r.body] == ["a lighthouse"]


async def test_forum_topic_reply_prompt_and_thread(
    telegram: TelegramEmulator, yandex: YandexArtEmulator, db_path: Path
) -> None:
    settings = make_settings(telegram, yandex, db_path)
    async with running_bot(settings, telegram):
        original = telegram.user_message(chat_id=GROUP, user_id=BOB, chat_type="supergroup",
                                         is_forum=True, message_thread_id=77,
                                         text="an owl reading a book")
        telegram.user_message(chat_id=GROUP, user_id=ALICE, chat_type="supergroup",
                              is_forum=True, message_thread_id=77, text="/draw@ourbot",
                              reply_to_message_id=original)
        await telegram.wait_for(lambda: len(telegram.photos(GROUP)) == 1, what="the photo")
    photo = telegram.photos(GROUP)[0]
    assert photo.params["message_thread_id"] == 77
    assert photo.response["result"]["message_thread_id"] == 77
    body = yandex.submits()[0].body
    assert body is not None
    assert body["messages"][0]["text"] == "an owl reading a book"


async def test_bad_prompts_get_a_reply_and_cost_nothing(
    telegram: TelegramEmulator, yandex: YandexArtEmulator, db_path: Path
) -> None:
    settings = make_settings(telegram, yandex, db_path, daily_limit=1)
    async with running_bot(settings, telegram):
        telegram.user_message(chat_id=ALICE, user_id=ALICE, text="/draw")
        telegram.user_message(chat_id=ALICE, user_id=ALICE, text="/draw " + "x" * 501)
        telegram.user_message(chat_id=ALICE, user_id=ALICE, text="/draw a cat --ar 30:1")
        await telegram.wait_for(lambda: len(texts_sent(telegram, ALICE)) == 3, what="3 replies")
        usage, too_long, bad_option = sorted(texts_sent(telegram, ALICE), key=len, reverse=True)
        telegram.user_message(chat_id=ALICE, user_id=ALICE, text="/draw still allowed")
        await telegram.wait_for(lambda: len(telegram.photos(ALICE)) == 1, what="the photo")
    replies = texts_sent(telegram, ALICE)
    assert any("/draw" in text and "--ar" in text for text in replies)  # usage with options
    assert any("501" in text and "500" in text for text in replies)
    assert any("30:1" in text for text in replies)
    assert [r.body["messages"][0]["text"] for r in yandex.submits() if r.body] == [
        "still allowed"]
    assert usage and too_long and bad_option


async def test_daily_limit_reply_and_admin_exemption(
    telegram: TelegramEmulator, yandex: YandexArtEmulator, db_path: Path
) -> None:
    settings = make_settings(telegram, yandex, db_path, daily_limit=1, admin_ids=str(BOB))
    async with running_bot(settings, telegram):
        telegram.user_message(chat_id=ALICE, user_id=ALICE, text="/draw first")
        await telegram.wait_for(lambda: len(telegram.photos(ALICE)) == 1, what="first photo")
        telegram.user_message(chat_id=ALICE, user_id=ALICE, text="/draw second")
        await telegram.wait_for(
            lambda: any("resets" in text for text in texts_sent(telegram, ALICE)),
            what="the limit reply")
        for n in range(3):
            telegram.user_message(chat_id=BOB, user_id=BOB, text=f"/draw admin {n}")
        await telegram.wait_for(lambda: len(telegram.photos(BOB)) == 3, what="admin photos")
    limit_reply = next(t for t in texts_sent(telegram, ALICE) if "resets" in t)
    assert "all 1 images" in limit_reply and "00:00 UTC" in limit_reply
    assert yandex.accepted_submits == 4


async def test_simultaneous_draws_cannot_exceed_the_limit(
    telegram: TelegramEmulator, yandex: YandexArtEmulator, db_path: Path
) -> None:
    settings = make_settings(telegram, yandex, db_path, daily_limit=2)
    async with running_bot(settings, telegram):
        telegram.user_message(chat_id=ALICE, user_id=ALICE, text="/draw warm-up")
        await telegram.wait_for(lambda: len(telegram.photos(ALICE)) == 1, what="first photo")
        for n in range(6):  # one image left, six requests in the same getUpdates batch
            telegram.user_message(chat_id=ALICE, user_id=ALICE, text=f"/draw race {n}")
        await telegram.wait_for(lambda: len(telegram.photos(ALICE)) == 2, what="second photo")
        await telegram.wait_for(
            lambda: sum("resets" in t for t in texts_sent(telegram, ALICE)) == 5,
            what="five limit replies")
        await asyncio.sleep(0.5)
    assert yandex.accepted_submits == 2
    assert len(telegram.photos(ALICE)) == 2
    assert len(await jobs_in(db_path)) == 2


async def test_refusal_and_failed_operation_are_refunded(
    telegram: TelegramEmulator, yandex: YandexArtEmulator, db_path: Path
) -> None:
    settings = make_settings(telegram, yandex, db_path, daily_limit=2)
    async with running_bot(settings, telegram):
        telegram.user_message(chat_id=ALICE, user_id=ALICE, text="/draw something forbidden")
        telegram.user_message(chat_id=ALICE, user_id=ALICE, text="/draw explode please")
        await telegram.wait_for(
            lambda: len(telegram.ok_calls("editMessageText", ALICE)) == 2, what="two notices")
        notices = [str(c.params["text"]) for c in telegram.ok_calls("editMessageText", ALICE)]
        # Both refunded: two more images still fit in the limit of 2.
        telegram.user_message(chat_id=ALICE, user_id=ALICE, text="/draw ok one")
        telegram.user_message(chat_id=ALICE, user_id=ALICE, text="/draw ok two")
        await telegram.wait_for(lambda: len(telegram.photos(ALICE)) == 2, what="two photos")
    assert any("terms of use" in text for text in notices)
    assert any("could not be generated" in text for text in notices)
    refused = [r for r in yandex.submits() if r.body and "forbidden" in str(r.body)]
    assert len(refused) == 1  # never retried
    states = {job.prompt: job.state for job in await jobs_in(db_path)}
    assert states["something forbidden"] is JobState.REFUSED
    assert states["explode please"] is JobState.FAILED


async def test_quota_and_server_errors_are_retried_without_double_billing(
    telegram: TelegramEmulator, yandex: YandexArtEmulator, db_path: Path
) -> None:
    yandex.fail_next("submit", status=429, grpc_code=8, shape="nested",
                     message="ai.imageGenerationRequests.rate rate quota limit exceed")
    yandex.fail_next("submit", status=503, grpc_code=14, message="unavailable", shape="plain")
    yandex.fail_next("poll", status=500, grpc_code=13, message="internal", times=2)
    settings = make_settings(telegram, yandex, db_path)
    async with running_bot(settings, telegram):
        telegram.user_message(chat_id=ALICE, user_id=ALICE, text="/draw persistent")
        await telegram.wait_for(lambda: len(telegram.photos(ALICE)) == 1, timeout=20,
                                what="the photo")
    assert [r.status for r in yandex.submits()] == [429, 503, 200]
    assert yandex.accepted_submits == 1
    [job] = await jobs_in(db_path)
    assert job.state is JobState.DELIVERED and job.attempts == 3


async def test_submit_with_unknown_outcome_is_not_resubmitted(
    telegram: TelegramEmulator, yandex: YandexArtEmulator, db_path: Path
) -> None:
    yandex.drop_next("submit", accept=True)
    settings = make_settings(telegram, yandex, db_path, daily_limit=1)
    async with running_bot(settings, telegram):
        telegram.user_message(chat_id=ALICE, user_id=ALICE, text="/draw lost answer")
        await telegram.wait_for(lambda: len(telegram.ok_calls("editMessageText", ALICE)) == 1,
                                what="the failure notice")
        await asyncio.sleep(0.5)
    assert len(yandex.submits()) == 1
    [job] = await jobs_in(db_path)
    assert job.state is JobState.FAILED and job.operation_id is None


@pytest.mark.parametrize(
    ("case", "setting"),
    [("bad key", "YANDEX_API_KEY"), ("model denied", "YANDEX_ART_MODEL")],
)
async def test_auth_errors_say_which_setting_to_check(
    telegram: TelegramEmulator, yandex: YandexArtEmulator, db_path: Path,
    caplog: pytest.LogCaptureFixture, case: str, setting: str,
) -> None:
    if case == "bad key":
        yandex.api_keys = {"another-key"}
    else:
        yandex.denied_models = {"yandex-art"}
    settings = make_settings(telegram, yandex, db_path, daily_limit=1)
    with caplog.at_level(logging.DEBUG):
        async with running_bot(settings, telegram):
            telegram.user_message(chat_id=ALICE, user_id=ALICE, text="/draw blocked")
            await telegram.wait_for(
                lambda: len(telegram.ok_calls("editMessageText", ALICE)) == 1, what="notice")
    notice = str(telegram.ok_calls("editMessageText", ALICE)[0].params["text"])
    assert "temporarily unavailable" in notice
    assert any(setting in r.getMessage() and r.levelno == logging.ERROR for r in caplog.records)
    [job] = await jobs_in(db_path)
    assert job.state is JobState.FAILED  # refunded
    assert len(yandex.submits()) == 1


async def test_deadline_expires_the_job_and_refunds(
    telegram: TelegramEmulator, yandex: YandexArtEmulator, db_path: Path
) -> None:
    yandex.generation_seconds = 30.0
    settings = make_settings(telegram, yandex, db_path, job_deadline_seconds=1.5)
    async with running_bot(settings, telegram):
        telegram.user_message(chat_id=ALICE, user_id=ALICE, text="/draw very slow")
        await telegram.wait_for(lambda: len(telegram.ok_calls("editMessageText", ALICE)) == 1,
                                what="the expiry notice")
    assert "too long" in str(telegram.ok_calls("editMessageText", ALICE)[0].params["text"])
    [job] = await jobs_in(db_path)
    assert job.state is JobState.EXPIRED
    assert yandex.accepted_submits == 1


async def test_a_job_waiting_past_its_deadline_in_the_queue_expires_and_is_told(
    telegram: TelegramEmulator, yandex: YandexArtEmulator, db_path: Path
) -> None:
    yandex.generation_seconds = 30.0
    settings = make_settings(telegram, yandex, db_path, job_deadline_seconds=2.0,
                             yandex_submits_per_minute=1, daily_limit=0)
    async with running_bot(settings, telegram):
        telegram.user_message(chat_id=ALICE, user_id=ALICE, text="/draw first")
        await telegram.wait_for(lambda: yandex.accepted_submits == 1, what="the first submit")
        telegram.user_message(chat_id=BOB, user_id=BOB, text="/draw stuck in the queue")
        await telegram.wait_for(lambda: bool(replies_with(telegram, BOB, "too long"))
                                or any("too long" in str(c.params.get("text"))
                                       for c in telegram.ok_calls("editMessageText", BOB)),
                                timeout=15, what="Bob's expiry notice")
    states = {job.prompt: job.state for job in await jobs_in(db_path)}
    assert states["stuck in the queue"] is JobState.EXPIRED
    assert yandex.accepted_submits == 1  # never submitted


async def test_telegram_flood_wait_is_honoured(
    telegram: TelegramEmulator, yandex: YandexArtEmulator, db_path: Path
) -> None:
    telegram.fail_next("sendPhoto", status=429, description="Too Many Requests: retry after 1",
                       retry_after=1)
    settings = make_settings(telegram, yandex, db_path)
    async with running_bot(settings, telegram):
        telegram.user_message(chat_id=ALICE, user_id=ALICE, text="/draw patient")
        await telegram.wait_for(lambda: len(telegram.photos(ALICE)) == 1, what="the photo")
    attempts = [c for c in telegram.calls if c.method == "sendphoto"]
    assert [c.status for c in attempts] == [429, 200]
    assert attempts[1].at - attempts[0].at >= 0.95


async def test_blocked_chat_is_undeliverable_and_others_still_served(
    telegram: TelegramEmulator, yandex: YandexArtEmulator, db_path: Path
) -> None:
    settings = make_settings(telegram, yandex, db_path)
    async with running_bot(settings, telegram):
        telegram.user_message(chat_id=ALICE, user_id=ALICE, text="/draw for alice")
        await telegram.wait_for(lambda: len(telegram.ok_calls("sendMessage", ALICE)) == 1,
                                what="acknowledgement")
        telegram.block_chat(ALICE)
        telegram.user_message(chat_id=BOB, user_id=BOB, text="/draw for bob")
        await telegram.wait_for(lambda: len(telegram.photos(BOB)) == 1, what="Bob's photo")
        await telegram.wait_for(lambda: any(c.method == "sendphoto" and c.status == 403
                                            for c in telegram.calls), what="the 403")
        await asyncio.sleep(0.2)
    states = {job.user_id: job for job in await jobs_in(db_path)}
    assert states[ALICE].state is JobState.UNDELIVERABLE
    assert "blocked" in (states[ALICE].reason or "")
    assert states[BOB].state is JobState.DELIVERED


async def test_html_in_prompt_is_escaped_and_long_caption_cut(
    telegram: TelegramEmulator, yandex: YandexArtEmulator, db_path: Path
) -> None:
    settings = make_settings(telegram, yandex, db_path)
    tricky = "<b>bold</b> & <script>x</script> \"q\""
    astral = "🐱" * 500 + " --ar 16:9 --seed 9223372036854775807"  # 1000 UTF-16 units + footer
    async with running_bot(settings, telegram):
        telegram.user_message(chat_id=ALICE, user_id=ALICE, text=f"/draw {tricky}")
        telegram.user_message(chat_id=ALICE, user_id=ALICE, text=f"/draw {astral}")
        await telegram.wait_for(lambda: len(telegram.photos(ALICE)) == 2, what="two photos")
    captions = [c.response["result"]["caption"] for c in telegram.photos(ALICE)]
    assert any(caption.startswith(tricky) for caption in captions)  # shown literally
    long_caption = next(c for c in captions if c.startswith("🐱"))
    assert len(long_caption.encode("utf-16-le")) // 2 <= 1024
    assert long_caption.split("\n\n")[0].endswith("…")
    sent = [str(c.params["caption"]) for c in telegram.photos(ALICE)]
    assert any(html.escape(tricky, quote=False) in caption for caption in sent)


async def test_resent_update_creates_nothing_new(
    telegram: TelegramEmulator, yandex: YandexArtEmulator, db_path: Path
) -> None:
    settings = make_settings(telegram, yandex, db_path)
    async with running_bot(settings, telegram):
        command = telegram.user_message(chat_id=ALICE, user_id=ALICE, text="/draw once")
        await telegram.wait_for(lambda: len(telegram.photos(ALICE)) == 1, what="the photo")
        original = next(c for c in telegram.calls if c.method == "getupdates"
                        and c.response.get("result"))
        update = original.response["result"][0]
        assert update["message"]["message_id"] == command
        telegram.raw_update({"message": update["message"]})  # Telegram re-sends it
        await telegram.wait_for(
            lambda: sum(1 for c in telegram.calls if c.method == "getupdates"
                        and c.response.get("result")) == 2, what="the re-sent update")
        await asyncio.sleep(0.5)
    assert len(telegram.photos(ALICE)) == 1
    assert yandex.accepted_submits == 1
    assert len(await jobs_in(db_path)) == 1


async def test_busy_group_gets_every_photo_exactly_once(
    telegram: TelegramEmulator, yandex: YandexArtEmulator, db_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    telegram.group_flood_limit = (20, 2.0)  # Telegram's 20 a minute, on a faster clock
    monkeypatch.setattr(limiter, "GROUP_CHAT_LIMIT", (20, 2.0))  # the bot knows it
    commands = await draw_in_a_busy_group(telegram, yandex, db_path)
    photos = telegram.photos(GROUP)
    assert sorted(c.params["reply_parameters"]["message_id"] for c in photos) == commands
    assert telegram.flood_429s == 0  # paced, never flood-limited
    assert yandex.accepted_submits == 25
    assert sorted(reactions(telegram, GROUP)) == commands  # acknowledged without a message
    assert texts_sent(telegram, GROUP) == []  # the group's budget went to the photos


async def test_a_flood_wait_in_a_busy_group_is_honoured(
    telegram: TelegramEmulator, yandex: YandexArtEmulator, db_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    telegram.group_flood_limit = (10, 2.0)  # stricter than the bot thinks
    monkeypatch.setattr(limiter, "GROUP_CHAT_LIMIT", (20, 2.0))
    commands = await draw_in_a_busy_group(telegram, yandex, db_path)
    photos = telegram.photos(GROUP)
    assert sorted(c.params["reply_parameters"]["message_id"] for c in photos) == commands
    assert telegram.flood_429s > 0  # the limit really was hit, and honoured
    assert yandex.accepted_submits == 25


async def draw_in_a_busy_group(telegram: TelegramEmulator, yandex: YandexArtEmulator,
                               db_path: Path) -> list[int]:
    """25 people draw at once in one group; returns their commands' message ids."""
    settings = make_settings(telegram, yandex, db_path)
    async with running_bot(settings, telegram):
        commands = sorted(telegram.user_message(chat_id=GROUP, user_id=user,
                                                chat_type="supergroup",
                                                text=f"/draw@ourbot picture {user}")
                          for user in range(2000, 2025))
        await telegram.wait_for(lambda: len(telegram.photos(GROUP)) == 25, timeout=60,
                                what="25 photos")
        await asyncio.sleep(0.5)
    return commands


async def test_no_secret_in_debug_logs(
    telegram: TelegramEmulator, yandex: YandexArtEmulator, db_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    yandex.fail_next("submit", status=401, grpc_code=16, message="Unknown api key", shape="plain")
    settings = make_settings(telegram, yandex, db_path)
    with caplog.at_level(logging.DEBUG):
        async with running_bot(settings, telegram):
            telegram.user_message(chat_id=ALICE, user_id=ALICE, text="/draw secretive")
            telegram.user_message(chat_id=BOB, user_id=BOB, text="/draw second")
            await telegram.wait_for(lambda: len(telegram.photos(BOB)) == 1, what="Bob's photo")
    logged = "\n".join(caplog.text.splitlines() + [r.getMessage() for r in caplog.records])
    assert len(caplog.records) > 20
    assert telegram.token not in logged
    assert telegram.token.split(":")[1] not in logged
    assert "test-api-key" not in logged


async def test_photo_arrives_even_if_the_command_was_deleted(
    telegram: TelegramEmulator, yandex: YandexArtEmulator, db_path: Path
) -> None:
    yandex.paused = True
    settings = make_settings(telegram, yandex, db_path)
    async with running_bot(settings, telegram):
        command = telegram.user_message(chat_id=ALICE, user_id=ALICE, text="/draw then delete")
        await telegram.wait_for(lambda: yandex.accepted_submits == 1, what="the submit")
        telegram.chats[ALICE].messages[command].deleted = True
        yandex.paused = False
        await telegram.wait_for(lambda: len(telegram.photos(ALICE)) == 1, what="the photo")
    assert "reply_to_message" not in telegram.photos(ALICE)[0].response["result"]


async def test_group_upgraded_to_supergroup_still_gets_its_photo(
    telegram: TelegramEmulator, yandex: YandexArtEmulator, db_path: Path
) -> None:
    yandex.paused = True
    old_group, new_group = -4242, -1004242
    settings = make_settings(telegram, yandex, db_path)
    async with running_bot(settings, telegram):
        telegram.user_message(chat_id=old_group, user_id=ALICE, chat_type="group",
                              text="/draw@ourbot migrating")
        await telegram.wait_for(lambda: yandex.accepted_submits == 1, what="the submit")
        telegram.chat_migrated(old_chat_id=old_group, new_chat_id=new_group)
        yandex.paused = False
        await telegram.wait_for(lambda: len(telegram.photos(new_group)) == 1, what="the photo")
    [job] = await jobs_in(db_path)
    assert job.chat_id == new_group and job.state is JobState.DELIVERED


async def test_migration_service_message_moves_delivered_jobs(
    telegram: TelegramEmulator, yandex: YandexArtEmulator, db_path: Path
) -> None:
    """The buttons under photos delivered before the upgrade find their jobs in the new chat;
    the group's daily limit and allow-list entry, set by an admin, follow it too."""
    old_group, new_group = -4343, -1004343
    settings = make_settings(telegram, yandex, db_path, access_mode="allowlist",
                             admin_ids=str(BOB))
    async with running_bot(settings, telegram):
        for command in ("/allow@ourbot here", "/setlimit@ourbot here 3"):
            telegram.user_message(chat_id=old_group, user_id=BOB, chat_type="group",
                                  text=command)
        await telegram.wait_for(lambda: len(texts_sent(telegram, old_group)) == 2,
                                what="the admin's two answers")
        telegram.user_message(chat_id=old_group, user_id=BOB, chat_type="group",
                              text="/draw@ourbot before the upgrade")
        await telegram.wait_for(lambda: len(telegram.photos(old_group)) == 1, what="the photo")
        telegram.chat_migrated(old_chat_id=old_group, new_chat_id=new_group)
        telegram.raw_update({"message": {
            "message_id": 99, "date": 0, "chat": {"id": old_group, "type": "group",
                                                  "title": "Test group"},
            "from": {"id": ALICE, "is_bot": False, "first_name": "Alice"},
            "migrate_to_chat_id": new_group}})

        async def moved() -> bool:
            """The handler's last step too: the group's allow-list entry."""
            db = await Database.open(db_path)
            try:
                allowed = (await SqliteAccessRepository(db).facts(ALICE, new_group)).chat_allowed
            finally:
                await db.close()
            return allowed and [job.chat_id for job in await jobs_in(db_path)] == [new_group]

        for _ in range(100):
            if await moved():
                break
            await asyncio.sleep(0.1)
        assert await moved()
        # Alice is not on the list herself: the group's entry lets her draw there.
        telegram.user_message(chat_id=new_group, user_id=ALICE, chat_type="supergroup",
                              text="/draw@ourbot after the upgrade")
        await telegram.wait_for(lambda: len(telegram.photos(new_group)) == 1, what="her photo")
        telegram.user_message(chat_id=new_group, user_id=ALICE, chat_type="supergroup",
                              text="/limits@ourbot")
        await telegram.wait_for(lambda: bool(replies_with(telegram, new_group, "left for")),
                                what="/limits")
    jobs = await jobs_in(db_path)
    assert [(job.chat_id, job.state) for job in jobs] == [(new_group, JobState.DELIVERED)] * 2
    assert "Images left for this chat today: <b>1</b> of 3" in replies_with(
        telegram, new_group, "left for")[0]
    # A service message is no request: no allow-list refusal went to the group.
    assert not replies_with(telegram, old_group, "this bot is private")
    assert not replies_with(telegram, new_group, "this bot is private")
    assert len(reactions(telegram, old_group)) == 1  # the admin's acknowledgement


async def test_every_state_change_is_one_log_line(
    telegram: TelegramEmulator, yandex: YandexArtEmulator, db_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    settings = make_settings(telegram, yandex, db_path)
    with caplog.at_level(logging.INFO, logger="bot"):
        async with running_bot(settings, telegram):
            telegram.user_message(chat_id=ALICE, user_id=ALICE, text="/draw logged")
            await telegram.wait_for(lambda: len(telegram.ok_calls("deleteMessage", ALICE)) == 1,
                                    what="the delivery")
    operation = next(iter(yandex.operations))
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("job 1: ")]
    for state in ("queued", "submitted", "generated", "delivered"):
        [line] = [line for line in lines if line.startswith(f"job 1: {state} ")]
        assert f"chat={ALICE}" in line and f"user={ALICE}" in line
    assert f"operation={operation}" in next(line for line in lines if " submitted " in line)
    assert "generation=" in next(line for line in lines if " generated " in line)
