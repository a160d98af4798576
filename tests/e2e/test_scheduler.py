"""End-to-end: the scheduler's fair queue and pacing, and the Images API provider."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest

from storage.models import JobState
from tests.e2e.harness import acknowledgements, jobs_in, make_settings, running_bot
from tests.fakes.telegram import TelegramEmulator
from tests.fakes.yandexart import YandexArtEmulator

HEAVY = 3001
LIGHT = 3002
IMAGES_MODEL = "aliceai-image-art-3.0"


def submitted_prompts(yandex: YandexArtEmulator, endpoint: str = "submit") -> list[str]:
    prompts = []
    for request in yandex.requests:
        if request.endpoint == endpoint and request.status == 200 and request.body:
            body = request.body
            prompts.append(body["prompt"] if "prompt" in body else body["messages"][0]["text"])
    return prompts


async def test_a_light_user_is_not_stuck_behind_a_heavy_one(
    telegram: TelegramEmulator, yandex: YandexArtEmulator, db_path: Path
) -> None:
    settings = make_settings(telegram, yandex, db_path, daily_limit=0, max_active_per_user=0,
                             yandex_max_in_flight=1)
    async with running_bot(settings, telegram):
        for n in range(20):
            telegram.user_message(chat_id=HEAVY, user_id=HEAVY, text=f"/draw heavy {n}")
        await telegram.wait_for(lambda: acknowledgements(telegram, HEAVY) == 20,
                                what="20 acknowledgements")
        for n in range(2):
            telegram.user_message(chat_id=LIGHT, user_id=LIGHT, text=f"/draw light {n}")
        await telegram.wait_for(lambda: len(telegram.photos(LIGHT)) == 2, timeout=30,
                                what="the light user's photos")
    order = submitted_prompts(yandex)
    positions = [order.index(f"light {n}") for n in range(2)]
    # Round-robin: both light jobs are among the first few, not behind 20 heavy ones (FIFO would
    # put them at 20 and 21).
    assert positions[0] <= 3 and positions[1] <= 6, order[:8]


async def test_poll_quota_429s_slow_the_bot_down_without_losing_anything(
    telegram: TelegramEmulator, yandex: YandexArtEmulator, db_path: Path
) -> None:
    yandex.polls_per_second = 3  # lower than the bot thinks (50): it learns from the 429s
    settings = make_settings(telegram, yandex, db_path, daily_limit=0, max_active_per_user=0)
    async with running_bot(settings, telegram):
        for n in range(8):
            telegram.user_message(chat_id=HEAVY + n, user_id=HEAVY + n, text=f"/draw busy {n}")
        await telegram.wait_for(lambda: len(telegram.photos()) == 8, timeout=40,
                                what="8 photos")
    assert yandex.accepted_submits == 8  # nothing resubmitted
    assert all(job.state is JobState.DELIVERED for job in await jobs_in(db_path))


async def test_images_api_model_draws_through_the_synchronous_api(
    telegram: TelegramEmulator, yandex: YandexArtEmulator, db_path: Path
) -> None:
    yandex.allowed_models = {IMAGES_MODEL}
    settings = make_settings(telegram, yandex, db_path, yandex_art_model=IMAGES_MODEL,
                             yandex_images_url=yandex.base_url)
    async with running_bot(settings, telegram):
        telegram.user_message(chat_id=HEAVY, user_id=HEAVY, text="/draw a kite --ar 16:9")
        await telegram.wait_for(lambda: len(telegram.photos(HEAVY)) == 1, what="the photo")
    [request] = [r for r in yandex.requests if r.endpoint == "images"]
    assert request.body == {"model": f"art://{yandex.folder_id}/{IMAGES_MODEL}",
                            "prompt": "a kite", "size": "16x9"}
    assert yandex.accepted_images == 1 and yandex.accepted_submits == 0
    assert not yandex.polls()
    caption = str(telegram.photos(HEAVY)[0].params["caption"])
    assert "--ar 16:9" in caption and "--seed" not in caption  # no seed: it would not reproduce
    [job] = await jobs_in(db_path)
    assert job.state is JobState.DELIVERED and job.operation_id is None


async def test_images_api_errors_refusal_denied_and_quota(
    telegram: TelegramEmulator, yandex: YandexArtEmulator, db_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    yandex.allowed_models = {IMAGES_MODEL}
    yandex.fail_next("images", status=429, grpc_code=8, message="rate quota limit exceed")
    settings = make_settings(telegram, yandex, db_path, yandex_art_model=IMAGES_MODEL,
                             yandex_images_url=yandex.base_url, daily_limit=0)
    with caplog.at_level(logging.INFO):
        async with running_bot(settings, telegram):
            telegram.user_message(chat_id=HEAVY, user_id=HEAVY, text="/draw after a 429")
            await telegram.wait_for(lambda: len(telegram.photos(HEAVY)) == 1, timeout=20,
                                    what="the photo after the 429")
            telegram.user_message(chat_id=LIGHT, user_id=LIGHT, text="/draw forbidden thing")
            await telegram.wait_for(lambda: len(telegram.ok_calls("editMessageText", LIGHT)) == 1,
                                    what="the refusal")
            yandex.allowed_models, yandex.denied_models = set(), {IMAGES_MODEL}
            telegram.user_message(chat_id=LIGHT, user_id=LIGHT, text="/draw now denied")
            await telegram.wait_for(lambda: len(telegram.ok_calls("editMessageText", LIGHT)) == 2,
                                    what="the unavailable notice")
    notices = [str(c.params["text"]) for c in telegram.ok_calls("editMessageText", LIGHT)]
    assert "terms of use" in notices[0] and "temporarily unavailable" in notices[1]
    assert yandex.accepted_images == 1
    assert [r.status for r in yandex.requests if r.endpoint == "images"] == [429, 200, 400, 403]
    denied = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert any("YANDEX_ART_MODEL" in line and "yandex-art/latest" in line for line in denied)
    states = sorted(job.state for job in await jobs_in(db_path))
    assert states == sorted([JobState.DELIVERED, JobState.REFUSED, JobState.FAILED])


async def test_images_api_request_cut_off_by_a_restart_is_sent_once_more(
    telegram: TelegramEmulator, yandex: YandexArtEmulator, db_path: Path
) -> None:
    yandex.allowed_models = {IMAGES_MODEL}
    yandex.generation_seconds = 30.0  # the first request is still running at shutdown
    settings = make_settings(telegram, yandex, db_path, yandex_art_model=IMAGES_MODEL,
                             yandex_images_url=yandex.base_url)
    async with running_bot(settings, telegram):
        telegram.user_message(chat_id=HEAVY, user_id=HEAVY, text="/draw cut off")
        await telegram.wait_for(lambda: yandex.accepted_images == 1, what="the request")
    [job] = await jobs_in(db_path)
    assert job.state is JobState.SUBMITTING and job.attempts == 1
    yandex.generation_seconds = 0.2
    async with running_bot(settings, telegram):
        await telegram.wait_for(lambda: len(telegram.photos(HEAVY)) == 1, what="the photo")
        await asyncio.sleep(0.3)
    [job] = await jobs_in(db_path)
    assert job.state is JobState.DELIVERED and job.attempts == 2
    assert yandex.accepted_images == 2  # the documented cost of resuming a synchronous request


async def test_waiting_jobs_are_told_their_place_in_the_queue(
    telegram: TelegramEmulator, yandex: YandexArtEmulator, db_path: Path
) -> None:
    yandex.paused = True  # nothing finishes: the queue stays as it is
    settings = make_settings(telegram, yandex, db_path, yandex_max_in_flight=1)
    waiting = [4001 + n for n in range(4)]
    async with running_bot(settings, telegram):
        telegram.user_message(chat_id=HEAVY, user_id=HEAVY, text="/draw being drawn")
        await telegram.wait_for(lambda: yandex.accepted_submits == 1, what="the first submit")
        for user in waiting:
            telegram.user_message(chat_id=user, user_id=user, text=f"/draw waiting {user}",
                                  language_code="ru" if user == waiting[-1] else "en")
        await telegram.wait_for(
            lambda: len([c for c in telegram.ok_calls("editMessageText")
                         if "queue" in str(c.params["text"]) or "очереди" in str(c.params["text"])])
            == 3, timeout=15, what="three queue positions")
        await asyncio.sleep(2.5)  # one more sweep: nothing moved, so nothing is edited again
    edits = {call.params["chat_id"]: str(call.params["text"])
             for call in telegram.ok_calls("editMessageText")}
    assert waiting[0] not in edits  # first in line: no news worth an edit
    assert edits[waiting[1]].startswith("⏳ In the queue: #2")
    assert edits[waiting[2]].startswith("⏳ In the queue: #3")
    assert edits[waiting[3]].startswith("⏳ В очереди: №4")
    assert len(telegram.ok_calls("editMessageText")) == 3
    assert not [c for c in telegram.calls if c.method == "editmessagetext" and c.status != 200]
