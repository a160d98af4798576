"""End-to-end: the chat experience — buttons, originals, the status line, languages, topics."""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from bot.generation import progress
from bot.prompt import DrawOptions
from storage.models import Job, JobState
from tests.e2e.harness import jobs_in, make_settings, reactions, running_bot, texts_sent
from tests.fakes.telegram import ApiCall, TelegramEmulator
from tests.fakes.yandexart import YandexArtEmulator

ALICE = 1001
BOB = 1002
CAROL = 1003
GROUP = -100500


# --- helpers ---------------------------------------------------------------------------------


def buttons(call: ApiCall) -> list[dict[str, Any]]:
    markup: Any = call.params.get("reply_markup") or {}
    return [button for row in markup.get("inline_keyboard", []) for button in row]


def button_data(call: ApiCall, label_start: str) -> str:
    return next(str(b["callback_data"]) for b in buttons(call)
                if str(b["text"]).startswith(label_start))


def message_id(call: ApiCall) -> int:
    return int(call.response["result"]["message_id"])


def answers(telegram: TelegramEmulator, query_id: str) -> list[ApiCall]:
    return [c for c in telegram.calls
            if c.method == "answercallbackquery" and c.params.get("callback_query_id") == query_id]


async def answered(telegram: TelegramEmulator, query_id: str) -> ApiCall:
    await telegram.wait_for(lambda: len(answers(telegram, query_id)) == 1,
                            what=f"the answer to {query_id}")
    await asyncio.sleep(0.1)
    [answer] = answers(telegram, query_id)
    assert answer.status == 200
    return answer


def reply_target(call: ApiCall) -> int | None:
    reply: Any = call.params.get("reply_parameters") or {}
    return reply.get("message_id") if isinstance(reply, dict) else None


def options_of(job: Job) -> DrawOptions:
    return DrawOptions.from_json(job.options)


# --- buttons ---------------------------------------------------------------------------------


async def test_photo_carries_again_and_original_buttons(
    telegram: TelegramEmulator, yandex: YandexArtEmulator, db_path: Path
) -> None:
    settings = make_settings(telegram, yandex, db_path)
    prompt = "a very long and secret prompt " * 10
    async with running_bot(settings, telegram):
        telegram.user_message(chat_id=ALICE, user_id=ALICE, text=f"/draw {prompt}")
        await telegram.wait_for(lambda: len(telegram.photos(ALICE)) == 1, what="the photo")
    [photo] = telegram.photos(ALICE)
    [job] = await jobs_in(db_path)
    labels = [b["text"] for b in buttons(photo)]
    assert labels == ["🔄 Again", "📄 Original"]
    for button in buttons(photo):
        data = str(button["callback_data"])
        assert len(data.encode()) <= 64
        assert data.startswith("j1:") and data.endswith(f":{job.id}")
        assert "secret" not in data
    assert photo.response["result"]["reply_markup"]["inline_keyboard"]  # Telegram kept it


async def test_again_is_a_new_job_for_whoever_presses_it(
    telegram: TelegramEmulator, yandex: YandexArtEmulator, db_path: Path
) -> None:
    settings = make_settings(telegram, yandex, db_path, daily_limit=1)
    async with running_bot(settings, telegram):
        command = telegram.user_message(chat_id=GROUP, user_id=ALICE, chat_type="supergroup",
                                        text="/draw@ourbot a red cat --ar 16:9 --seed 7")
        await telegram.wait_for(lambda: len(telegram.photos(GROUP)) == 1, what="Alice's photo")
        first = telegram.photos(GROUP)[0]
        again = button_data(first, "🔄")
        # Bob (Russian) presses it: his job, though Alice has used up her day.
        bobs = telegram.callback_query(chat_id=GROUP, user_id=BOB, message_id=message_id(first),
                                       data=again, language_code="ru")
        await telegram.wait_for(lambda: len(telegram.photos(GROUP)) == 2, what="Bob's photo")
        assert (await answered(telegram, bobs)).params.get("text") in (None, "")
        # The same press re-sent by Telegram: nothing new.
        update = next(c.response["result"][0] for c in telegram.calls
                      if c.method == "getupdates" and c.response.get("result")
                      and "callback_query" in c.response["result"][0])
        telegram.raw_update({"callback_query": update["callback_query"]})
        # Bob has no images left today, nor has Alice.
        bob_again = telegram.callback_query(chat_id=GROUP, user_id=BOB, language_code="ru",
                                            message_id=message_id(first), data=again)
        alice_again = telegram.callback_query(chat_id=GROUP, user_id=ALICE,
                                              message_id=message_id(first), data=again)
        bob_answer = await answered(telegram, bob_again)
        alice_answer = await answered(telegram, alice_again)
        await asyncio.sleep(0.5)
    assert len(telegram.photos(GROUP)) == 2
    assert yandex.accepted_submits == 2
    assert bob_answer.params.get("show_alert") is True
    assert "Вы уже использовали все 1" in str(bob_answer.params["text"])
    assert "You have used all 1 images" in str(alice_answer.params["text"])
    first_job, second_job = await jobs_in(db_path)
    assert (first_job.user_id, first_job.message_id) == (ALICE, command)
    assert second_job.user_id == BOB and second_job.language == "ru"
    assert second_job.request_key == f"cb:{bobs}"
    assert second_job.prompt == first_job.prompt == "a red cat"
    assert options_of(second_job).aspect == options_of(first_job).aspect == (16, 9)
    assert options_of(first_job).seed == 7
    assert options_of(second_job).seed not in (None, 7)
    bodies = [r.body for r in yandex.submits() if r.body]
    assert [b["messages"][0]["text"] for b in bodies] == ["a red cat", "a red cat"]
    assert bodies[1]["generationOptions"]["aspectRatio"] == {"widthRatio": "16", "heightRatio": "9"}
    assert int(bodies[1]["generationOptions"]["seed"]) == options_of(second_job).seed
    second = telegram.photos(GROUP)[1]
    assert reply_target(second) == message_id(first)  # the new photo answers the old one
    assert f"--seed {options_of(second_job).seed}" in str(second.params["caption"])
    assert [b["text"] for b in buttons(second)] == ["🔄 Ещё раз", "📄 Оригинал"]  # Bob's language
    assert reactions(telegram, GROUP) == [command, message_id(first)]  # acknowledged, quietly
    assert texts_sent(telegram, GROUP) == []


async def test_a_banned_users_button_press_is_answered_silently_and_draws_nothing(
    telegram: TelegramEmulator, yandex: YandexArtEmulator, db_path: Path
) -> None:
    settings = make_settings(telegram, yandex, db_path, admin_ids=str(CAROL))
    async with running_bot(settings, telegram):
        telegram.user_message(chat_id=GROUP, user_id=ALICE, chat_type="supergroup",
                              text="/draw@ourbot a red cat")
        await telegram.wait_for(lambda: len(telegram.photos(GROUP)) == 1, what="the photo")
        telegram.user_message(chat_id=CAROL, user_id=CAROL, text=f"/ban {BOB}")
        await telegram.wait_for(lambda: len(texts_sent(telegram, CAROL)) == 1, what="the ban")
        first = telegram.photos(GROUP)[0]
        press = telegram.callback_query(chat_id=GROUP, user_id=BOB, message_id=message_id(first),
                                        data=button_data(first, "🔄"))
        answer = await answered(telegram, press)
        await asyncio.sleep(0.3)
    assert answer.params.get("text") in (None, "")
    assert len(await jobs_in(db_path)) == 1 and yandex.accepted_submits == 1


async def test_original_is_the_exact_jpeg_as_a_document_in_the_topic(
    telegram: TelegramEmulator, yandex: YandexArtEmulator, db_path: Path
) -> None:
    settings = make_settings(telegram, yandex, db_path)
    async with running_bot(settings, telegram):
        telegram.user_message(chat_id=GROUP, user_id=ALICE, chat_type="supergroup", is_forum=True,
                              message_thread_id=77, text="/draw@ourbot a lighthouse --ar tall")
        await telegram.wait_for(lambda: len(telegram.photos(GROUP)) == 1, what="the photo")
        photo = telegram.photos(GROUP)[0]
        original = button_data(photo, "📄")
        first = telegram.callback_query(chat_id=GROUP, user_id=BOB, message_id=message_id(photo),
                                        data=original)
        await telegram.wait_for(lambda: len(telegram.ok_calls("sendDocument", GROUP)) == 1,
                                what="the document")
        again_press = telegram.callback_query(chat_id=GROUP, user_id=BOB, data=original,
                                              message_id=message_id(photo))  # a second press
        await answered(telegram, again_press)
        # 🔄 in the topic: the new photo stays in the topic.
        telegram.callback_query(chat_id=GROUP, user_id=BOB, message_id=message_id(photo),
                                data=button_data(photo, "🔄"))
        await telegram.wait_for(lambda: len(telegram.photos(GROUP)) == 2, what="second photo")
    assert (await answered(telegram, first)).status == 200
    [document] = telegram.ok_calls("sendDocument", GROUP)  # the second press sent nothing
    assert "just now" in str(answers(telegram, again_press)[0].params["text"])
    operation = yandex.operations[next(iter(yandex.operations))]
    assert document.files["document"] == operation.image  # byte for byte
    result = document.response["result"]
    assert result["document"]["file_name"].endswith(".jpg")
    assert result["document"]["mime_type"] == "image/jpeg"
    assert document.params["message_thread_id"] == 77 and result["message_thread_id"] == 77
    assert reply_target(document) == message_id(photo)
    assert "--ar 9:16" in str(document.params["caption"])
    for call in [*telegram.photos(GROUP), *telegram.ok_calls("sendMessage", GROUP)]:
        assert call.params["message_thread_id"] == 77
    for call in telegram.calls:
        if call.method == "sendchataction":
            assert call.params["message_thread_id"] == 77


async def test_buttons_work_after_a_restart(
    telegram: TelegramEmulator, yandex: YandexArtEmulator, db_path: Path
) -> None:
    settings = make_settings(telegram, yandex, db_path)
    async with running_bot(settings, telegram):
        telegram.user_message(chat_id=ALICE, user_id=ALICE, text="/draw before the restart")
        await telegram.wait_for(lambda: len(telegram.photos(ALICE)) == 1, what="the photo")
    photo = telegram.photos(ALICE)[0]
    async with running_bot(settings, telegram):
        telegram.callback_query(chat_id=ALICE, user_id=ALICE, message_id=message_id(photo),
                                data=button_data(photo, "📄"))
        telegram.callback_query(chat_id=ALICE, user_id=ALICE, message_id=message_id(photo),
                                data=button_data(photo, "🔄"))
        await telegram.wait_for(lambda: len(telegram.photos(ALICE)) == 2, what="the new photo")
        await telegram.wait_for(lambda: len(telegram.ok_calls("sendDocument", ALICE)) == 1,
                                what="the original")
    assert telegram.ok_calls("sendDocument", ALICE)[0].files["document"] == (
        yandex.operations[next(iter(yandex.operations))].image)
    assert [job.prompt for job in await jobs_in(db_path)] == ["before the restart"] * 2


async def test_gone_jobs_images_and_foreign_buttons_get_a_notice(
    telegram: TelegramEmulator, yandex: YandexArtEmulator, db_path: Path
) -> None:
    settings = make_settings(telegram, yandex, db_path, originals_retention_hours=1)
    async with running_bot(settings, telegram):
        telegram.user_message(chat_id=ALICE, user_id=ALICE, text="/draw alice's secret")
        await telegram.wait_for(lambda: len(telegram.photos(ALICE)) == 1, what="the photo")
        photo = telegram.photos(ALICE)[0]
        [job] = await jobs_in(db_path)
        with sqlite3.connect(db_path) as connection:  # as if pruned
            connection.execute("DELETE FROM job_images WHERE job_id = ?", (job.id,))
        pruned = telegram.callback_query(chat_id=ALICE, user_id=ALICE, data=button_data(
            photo, "📄"), message_id=message_id(photo))
        missing = telegram.callback_query(chat_id=ALICE, user_id=ALICE, data="j1:again:999",
                                          message_id=message_id(photo))
        old_layout = telegram.callback_query(chat_id=ALICE, user_id=ALICE, data="j0:1",
                                             message_id=message_id(photo))
        # Bob forges Alice's job id under a message of his own chat.
        telegram.user_message(chat_id=BOB, user_id=BOB, text="/draw bob's own")
        await telegram.wait_for(lambda: len(telegram.photos(BOB)) == 1, what="Bob's photo")
        bob_photo = telegram.photos(BOB)[0]
        forged = [telegram.callback_query(chat_id=BOB, user_id=BOB, data=f"j1:{action}:{job.id}",
                                          message_id=message_id(bob_photo), language_code="ru")
                  for action in ("again", "orig")]
        answers_ = [await answered(telegram, query)
                    for query in (pruned, missing, old_layout, *forged)]
        await asyncio.sleep(0.3)
    texts = [str(answer.params.get("text")) for answer in answers_]
    assert "kept for 1 h" in texts[0] and answers_[0].params.get("show_alert") is True
    assert all("no longer works" in text for text in texts[1:3])
    assert all("больше не работает" in text for text in texts[3:])
    assert telegram.ok_calls("sendDocument") == []
    assert len(telegram.photos()) == 2 and yandex.accepted_submits == 2


async def test_without_retention_there_is_no_original_button_and_no_kept_image(
    telegram: TelegramEmulator, yandex: YandexArtEmulator, db_path: Path
) -> None:
    settings = make_settings(telegram, yandex, db_path, originals_retention_hours=0)
    async with running_bot(settings, telegram):
        telegram.user_message(chat_id=ALICE, user_id=ALICE, text="/draw ephemeral")
        await telegram.wait_for(lambda: len(telegram.photos(ALICE)) == 1, what="the photo")
    assert [b["text"] for b in buttons(telegram.photos(ALICE)[0])] == ["🔄 Again"]
    with sqlite3.connect(db_path) as connection:
        assert connection.execute("SELECT count(*) FROM job_images").fetchone() == (0,)


# --- the status line -------------------------------------------------------------------------


@pytest.fixture
def fast_progress(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(progress, "ACTION_EVERY", 0.4)
    monkeypatch.setattr(progress, "PRIVATE_EDIT_EVERY", 0.5)
    monkeypatch.setattr(progress, "GROUP_EDIT_EVERY", 1.0)


def edits(telegram: TelegramEmulator, chat_id: int | None = None) -> list[ApiCall]:
    return [c for c in telegram.calls if c.method == "editmessagetext"
            and (chat_id is None or c.params.get("chat_id") == chat_id)]


@pytest.mark.usefixtures("fast_progress")
async def test_status_line_counts_seconds_without_not_modified_errors(
    telegram: TelegramEmulator, yandex: YandexArtEmulator, db_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    yandex.generation_seconds = 3.0
    telegram.fail_next("sendChatAction", status=500, description="Internal Server Error")
    telegram.fail_next("sendChatAction", status=400, description="Bad Request: wrong thread",
                       chat_id=BOB)
    settings = make_settings(telegram, yandex, db_path)
    with caplog.at_level(logging.DEBUG):
        async with running_bot(settings, telegram):
            telegram.user_message(chat_id=ALICE, user_id=ALICE, text="/draw slowly")
            telegram.user_message(chat_id=BOB, user_id=BOB, text="/draw slowly too",
                                  language_code="be")
            await telegram.wait_for(lambda: len(telegram.photos()) == 2, what="the photos")
            await telegram.wait_for(lambda: len(telegram.ok_calls("deleteMessage")) == 2,
                                    what="the status messages to go")
            await asyncio.sleep(0.5)
    alice_edits = edits(telegram, ALICE)
    assert len(alice_edits) >= 3
    assert all(call.status == 200 for call in edits(telegram))  # no "message is not modified"
    shown = [str(call.params["text"]) for call in alice_edits]
    assert len(set(shown)) == len(shown)
    assert all(text.startswith("🎨 Drawing… ") and text.endswith(" s") for text in shown)
    assert any(str(c.params["text"]).startswith("🎨 Рисую… ") for c in edits(telegram, BOB))
    status_id = message_id(telegram.ok_calls("sendMessage", ALICE)[0])
    assert {c.params["message_id"] for c in alice_edits} == {status_id}
    deleted = next(c for c in telegram.ok_calls("deleteMessage", ALICE))
    assert deleted.params["message_id"] == status_id
    assert max(c.at for c in alice_edits) < deleted.at  # nothing edited after it went
    photo_at = telegram.photos(ALICE)[0].at
    assert all(c.at < photo_at for c in alice_edits)
    actions = [c for c in telegram.calls if c.method == "sendchataction"
               and c.params.get("chat_id") == ALICE]
    assert len(actions) >= 4  # renewed, though the first one failed
    assert all(c.params["action"] == "upload_photo" for c in actions)
    assert not [c for c in telegram.calls if c.method == "sendchataction"
                and c.params.get("chat_id") == BOB and c.status == 200]  # stopped after a 400
    assert "never retrieved" not in caplog.text


@pytest.mark.usefixtures("fast_progress")
async def test_a_group_gets_reactions_and_actions_and_a_private_status_is_edited_rarely(
    telegram: TelegramEmulator, yandex: YandexArtEmulator, db_path: Path
) -> None:
    yandex.generation_seconds = 2.5
    settings = make_settings(telegram, yandex, db_path)
    async with running_bot(settings, telegram):
        telegram.user_message(chat_id=CAROL, user_id=CAROL, text="/draw alone")
        commands = [telegram.user_message(chat_id=GROUP, user_id=user, chat_type="supergroup",
                                          text=f"/draw@ourbot crowd {user}")
                    for user in (ALICE, BOB)]
        await telegram.wait_for(lambda: len(telegram.photos()) == 3, what="three photos")
    # The group's 20 messages a minute are kept for photos: a reaction acknowledges each.
    assert sorted(reactions(telegram, GROUP)) == sorted(commands)
    assert texts_sent(telegram, GROUP) == [] and edits(telegram, GROUP) == []
    private_edits = edits(telegram, CAROL)
    assert 1 <= len(private_edits) <= 6  # every 0.5 s at most, over ~3 s
    assert all(call.status == 200 for call in private_edits)
    times = [c.at for c in private_edits]
    assert all(b - a >= 0.35 for a, b in itertools.pairwise(times))  # (network jitter)
    group_actions = [c.at for c in telegram.calls if c.method == "sendchataction"
                     and c.params.get("chat_id") == GROUP]
    assert group_actions  # one action for the chat, not one per job
    assert all(b - a >= 0.2 for a, b in itertools.pairwise(group_actions))


@pytest.mark.usefixtures("fast_progress")
async def test_deleted_status_message_stops_the_edits(
    telegram: TelegramEmulator, yandex: YandexArtEmulator, db_path: Path
) -> None:
    yandex.generation_seconds = 2.5
    settings = make_settings(telegram, yandex, db_path)
    async with running_bot(settings, telegram):
        telegram.user_message(chat_id=ALICE, user_id=ALICE, text="/draw delete the status")
        await telegram.wait_for(lambda: len(telegram.ok_calls("sendMessage", ALICE)) == 1,
                                what="the status message")
        status_id = message_id(telegram.ok_calls("sendMessage", ALICE)[0])
        telegram.chats[ALICE].messages[status_id].deleted = True
        await telegram.wait_for(lambda: len(telegram.photos(ALICE)) == 1, what="the photo")
    failed = [c for c in edits(telegram, ALICE) if c.status != 200]
    assert len(failed) <= 1  # the first failure ends the edits


# --- languages and the menu ------------------------------------------------------------------


async def test_russian_speakers_get_russian_and_the_menu_is_in_both_languages(
    telegram: TelegramEmulator, yandex: YandexArtEmulator, db_path: Path
) -> None:
    settings = make_settings(telegram, yandex, db_path)
    async with running_bot(settings, telegram):
        telegram.user_message(chat_id=ALICE, user_id=ALICE, text="/draw", language_code="ru")
        telegram.user_message(chat_id=ALICE, user_id=ALICE, text="/draw a cat --seed x",
                              language_code="kk")
        telegram.user_message(chat_id=BOB, user_id=BOB, text="/draw", language_code="de")
        telegram.user_message(chat_id=ALICE, user_id=ALICE, text="/draw кот", language_code="uk")
        await telegram.wait_for(lambda: len(telegram.photos(ALICE)) == 1, what="the photo")
        await telegram.wait_for(lambda: len(telegram.ok_calls("sendMessage", BOB)) == 1,
                                what="Bob's usage")
    alice = [str(c.params["text"]) for c in telegram.ok_calls("sendMessage", ALICE)]
    assert any(text.startswith("Напишите, что нарисовать") for text in alice)
    assert any("неверное зерно" in text for text in alice)
    assert "🎨 Рисую…" in alice
    assert str(telegram.ok_calls("sendMessage", BOB)[0].params["text"]).startswith(
        "Tell me what to draw")
    assert [b["text"] for b in buttons(telegram.photos(ALICE)[0])] == ["🔄 Ещё раз", "📄 Оригинал"]
    default = telegram.commands[(json.dumps({"type": "default"}), "")]
    assert (default[0]["command"], default[0]["description"][:10]) == ("draw", "Draw a pic")
    for code in ("ru", "uk", "be", "kk"):
        draw = telegram.commands[(json.dumps({"type": "default"}), code)][0]
        assert draw["command"] == "draw" and draw["description"].startswith("Нарисовать")


# --- options ---------------------------------------------------------------------------------


async def test_options_reach_yandexart_and_the_caption(
    telegram: TelegramEmulator, yandex: YandexArtEmulator, db_path: Path
) -> None:
    settings = make_settings(telegram, yandex, db_path)
    async with running_bot(settings, telegram):
        telegram.user_message(chat_id=ALICE, user_id=ALICE, text="/draw —ar wide a fox")
        await telegram.wait_for(lambda: len(telegram.photos(ALICE)) == 1, what="first photo")
        original = telegram.user_message(chat_id=ALICE, user_id=ALICE,
                                         text="a harbour at dawn --seed 3")
        telegram.user_message(chat_id=ALICE, user_id=ALICE, text="/draw --ar 1:4 --seed 12",
                              reply_to_message_id=original)
        await telegram.wait_for(lambda: len(telegram.photos(ALICE)) == 2, what="second photo")
    first_job, second_job = await jobs_in(db_path)
    first, second = [r.body for r in yandex.submits() if r.body]
    assert first["messages"] == [{"text": "a fox", "weight": 1}]
    assert first["generationOptions"]["aspectRatio"] == {"widthRatio": "16", "heightRatio": "9"}
    seed = options_of(first_job).seed
    assert seed is not None and int(first["generationOptions"]["seed"]) == seed
    assert f"--ar 16:9 --seed {seed}" in str(telegram.photos(ALICE)[0].params["caption"])
    # A reply draws the replied text; the command's own options win over the quoted ones.
    assert second["messages"][0]["text"] == "a harbour at dawn"
    assert second["generationOptions"]["aspectRatio"] == {"widthRatio": "1", "heightRatio": "4"}
    assert int(second["generationOptions"]["seed"]) == 12 == options_of(second_job).seed
    assert first_job.state is JobState.DELIVERED and second_job.state is JobState.DELIVERED
