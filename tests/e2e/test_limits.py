"""End-to-end: the limits (user, chat, global, active), refunds, /limits and /cancel."""

from __future__ import annotations

import asyncio
from pathlib import Path

from storage.models import JobState
from tests.e2e.harness import (
    jobs_in,
    make_settings,
    reactions,
    replies_with,
    running_bot,
    texts_sent,
)
from tests.fakes.telegram import TelegramEmulator
from tests.fakes.yandexart import YandexArtEmulator

ALICE, BOB, CAROL = 1001, 1002, 1003
ADMIN = 4242
GROUP = -100500


async def test_simultaneous_group_draws_cannot_exceed_the_chat_limit(
    telegram: TelegramEmulator, yandex: YandexArtEmulator, db_path: Path
) -> None:
    settings = make_settings(telegram, yandex, db_path, chat_daily_limit=2)
    members = list(range(2000, 2006))
    async with running_bot(settings, telegram):
        for user in members:  # six members, one getUpdates batch, two images left
            telegram.user_message(chat_id=GROUP, user_id=user, chat_type="supergroup",
                                  text=f"/draw@ourbot race {user}",
                                  language_code="ru" if user == members[-1] else "en")
        await telegram.wait_for(lambda: len(telegram.photos(GROUP)) == 2, what="two photos")
        await telegram.wait_for(
            lambda: len(replies_with(telegram, GROUP, "This chat has used all 2 images"))
            + len(replies_with(telegram, GROUP, "Этот чат уже использовал все 2")) == 4,
            what="four chat-limit replies")
        # A member's own private chat is not the group: not limited by it.
        telegram.user_message(chat_id=members[0], user_id=members[0], text="/draw at home")
        await telegram.wait_for(lambda: len(telegram.photos(members[0])) == 1, what="home photo")
        await asyncio.sleep(0.3)
    english = replies_with(telegram, GROUP, "This chat has used all 2 images")[0]
    assert "resets at 00:00 UTC" in english
    assert yandex.accepted_submits == 3
    assert len(await jobs_in(db_path)) == 3


async def test_simultaneous_draws_cannot_exceed_the_global_limit(
    telegram: TelegramEmulator, yandex: YandexArtEmulator, db_path: Path
) -> None:
    settings = make_settings(telegram, yandex, db_path, global_daily_limit=3,
                             admin_ids=str(ADMIN))
    people = list(range(3000, 3007))
    async with running_bot(settings, telegram):
        for user in people:
            telegram.user_message(chat_id=user, user_id=user, text=f"/draw race {user}")
        await telegram.wait_for(lambda: len(telegram.photos()) == 3, what="three photos")
        await telegram.wait_for(
            lambda: sum(len(replies_with(telegram, user, "for everyone together"))
                        for user in people) == 4, what="four global-limit replies")
        telegram.user_message(chat_id=ADMIN, user_id=ADMIN, text="/draw the owner's own")
        await telegram.wait_for(lambda: len(telegram.photos(ADMIN)) == 1, what="admin photo")
        await asyncio.sleep(0.3)
    reply = next(text for user in people for text in replies_with(telegram, user, "everyone"))
    assert "all 3 images" in reply and "00:00 UTC" in reply
    assert yandex.accepted_submits == 4


async def test_active_jobs_cap_and_admin_exemption(
    telegram: TelegramEmulator, yandex: YandexArtEmulator, db_path: Path
) -> None:
    yandex.paused = True
    settings = make_settings(telegram, yandex, db_path, admin_ids=str(ADMIN))  # cap: 2
    async with running_bot(settings, telegram):
        for n in range(4):
            telegram.user_message(chat_id=ALICE, user_id=ALICE, text=f"/draw busy {n}")
            telegram.user_message(chat_id=ADMIN, user_id=ADMIN, text=f"/draw admin {n}")
        await telegram.wait_for(
            lambda: len(replies_with(telegram, ALICE, "wait for your current images")) == 2,
            what="two 'wait' replies")
        await telegram.wait_for(lambda: yandex.accepted_submits == 6, what="six submits")
        yandex.paused = False
        await telegram.wait_for(lambda: len(telegram.photos(ALICE)) == 2, what="Alice's photos")
        await telegram.wait_for(lambda: len(telegram.photos(ADMIN)) == 4, what="admin's photos")
        telegram.user_message(chat_id=ALICE, user_id=ALICE, text="/draw after the wait")
        await telegram.wait_for(lambda: len(telegram.photos(ALICE)) == 3, what="a third photo")
    reply = replies_with(telegram, ALICE, "wait for your current images")[0]
    assert "2 images in progress" in reply and "Nothing was charged" in reply
    assert len(await jobs_in(db_path)) == 7


async def test_refunded_jobs_give_back_the_global_and_chat_budget(
    telegram: TelegramEmulator, yandex: YandexArtEmulator, db_path: Path
) -> None:
    settings = make_settings(telegram, yandex, db_path, global_daily_limit=1,
                             chat_daily_limit=1)
    async with running_bot(settings, telegram):
        telegram.user_message(chat_id=GROUP, user_id=ALICE, chat_type="supergroup",
                              text="/draw@ourbot something forbidden")
        await telegram.wait_for(lambda: bool(replies_with(telegram, GROUP, "terms of use")),
                                what="the refusal notice")
        telegram.user_message(chat_id=GROUP, user_id=BOB, chat_type="supergroup",
                              text="/draw@ourbot allowed after the refund")
        await telegram.wait_for(lambda: len(telegram.photos(GROUP)) == 1, what="Bob's photo")
        telegram.user_message(chat_id=CAROL, user_id=CAROL, text="/draw one too many")
        await telegram.wait_for(lambda: bool(replies_with(telegram, CAROL, "everyone")),
                                what="the global-limit reply")
    states = {job.prompt: job.state for job in await jobs_in(db_path)}
    assert states == {"something forbidden": JobState.REFUSED,
                      "allowed after the refund": JobState.DELIVERED}


async def test_limits_command_shows_what_is_left_and_the_queue(
    telegram: TelegramEmulator, yandex: YandexArtEmulator, db_path: Path
) -> None:
    yandex.paused = True
    settings = make_settings(telegram, yandex, db_path, daily_limit=3, chat_daily_limit=5,
                             yandex_submits_per_minute=1)  # one submit, the rest wait in queue
    async with running_bot(settings, telegram):
        telegram.user_message(chat_id=ALICE, user_id=ALICE, text="/draw first in private")
        await telegram.wait_for(lambda: yandex.accepted_submits == 1, what="the first submit")
        telegram.user_message(chat_id=GROUP, user_id=ALICE, chat_type="supergroup",
                              text="/draw@ourbot second in the group")
        await telegram.wait_for(lambda: len(reactions(telegram, GROUP)) == 1, what="ack")
        telegram.user_message(chat_id=BOB, user_id=BOB, text="/draw bob's")
        await telegram.wait_for(lambda: len(texts_sent(telegram, BOB)) == 1, what="Bob's ack")

        telegram.user_message(chat_id=ALICE, user_id=ALICE, text="/limits")
        await telegram.wait_for(lambda: bool(replies_with(telegram, ALICE, "left for you")),
                                what="/limits in private")
        telegram.user_message(chat_id=GROUP, user_id=ALICE, chat_type="supergroup",
                              text="/limits@ourbot")
        await telegram.wait_for(lambda: bool(replies_with(telegram, GROUP, "left for you")),
                                what="/limits in the group")
        telegram.user_message(chat_id=BOB, user_id=BOB, text="/limits", language_code="ru")
        await telegram.wait_for(lambda: bool(replies_with(telegram, BOB, "Осталось")),
                                what="Bob's /limits in Russian")
    private = replies_with(telegram, ALICE, "left for you")[0]
    assert "Images left for you today: <b>1</b> of 3" in private
    assert "The day resets at 00:00 UTC (in " in private
    assert "up to 2" in private
    assert "drawing now: first in private" in private
    # Alice already has an image being drawn, so Bob (none yet) gets the next turn.
    assert "#2 in the queue: second in the group" in private
    assert f"<code>{ALICE}</code>" in private
    group = replies_with(telegram, GROUP, "left for you")[0]
    assert "Images left for this chat today: <b>4</b> of 5" in group
    assert "#2 in the queue: second in the group" in group
    assert "first in private" not in group  # private prompts stay private
    assert "1 more in other chats" in group
    assert str(ALICE) not in group
    bob = replies_with(telegram, BOB, "Осталось")[0]
    assert "№1 в очереди: bob's" in bob  # ahead of Alice's second


async def test_cancel_only_cancels_your_own_jobs_and_refunds_them(
    telegram: TelegramEmulator, yandex: YandexArtEmulator, db_path: Path
) -> None:
    yandex.paused = True
    settings = make_settings(telegram, yandex, db_path, daily_limit=2,
                             yandex_submits_per_minute=1)
    async with running_bot(settings, telegram):
        telegram.user_message(chat_id=ALICE, user_id=ALICE, text="/draw alice generating")
        await telegram.wait_for(lambda: yandex.accepted_submits == 1, what="the submit")
        telegram.user_message(chat_id=GROUP, user_id=ALICE, chat_type="supergroup",
                              text="/draw@ourbot alice queued")
        telegram.user_message(chat_id=GROUP, user_id=BOB, chat_type="supergroup",
                              text="/draw@ourbot bob queued")
        await telegram.wait_for(lambda: len(reactions(telegram, GROUP)) == 2, what="2 acks")

        telegram.user_message(chat_id=GROUP, user_id=BOB, chat_type="supergroup",
                              text="/cancel@ourbot")
        await telegram.wait_for(lambda: bool(replies_with(telegram, GROUP, "Cancelled: 1")),
                                what="Bob's cancel")
        states = {job.prompt: job.state for job in await jobs_in(db_path)}
        assert states["bob queued"] is JobState.CANCELLED
        assert states["alice queued"] is JobState.QUEUED
        assert states["alice generating"] is JobState.SUBMITTED

        telegram.user_message(chat_id=CAROL, user_id=CAROL, text="/cancel")
        await telegram.wait_for(lambda: bool(replies_with(telegram, CAROL, "nothing to cancel")),
                                what="nothing to cancel")
        # In private, /cancel covers the user's jobs in every chat.
        telegram.user_message(chat_id=ALICE, user_id=ALICE, text="/cancel")
        await telegram.wait_for(lambda: bool(replies_with(telegram, ALICE, "Cancelled: 2")),
                                what="Alice's cancel")
        # Refunded: both of Alice's images are available again.
        telegram.user_message(chat_id=ALICE, user_id=ALICE, text="/limits")
        await telegram.wait_for(lambda: bool(replies_with(telegram, ALICE, "left for you")),
                                what="/limits")
        yandex.paused = False
        await asyncio.sleep(1.0)
    assert "<b>2</b> of 2" in replies_with(telegram, ALICE, "left for you")[0]
    assert "not counted against your limit" in replies_with(telegram, ALICE, "Cancelled")[0]
    assert telegram.photos() == []  # the generating one was abandoned, not delivered
    assert all(job.state is JobState.CANCELLED for job in await jobs_in(db_path))
    assert len(telegram.ok_calls("deleteMessage", ALICE)) == 1  # the "Drawing…" message
    assert telegram.ok_calls("deleteMessage", GROUP) == []  # none: a reaction there
