"""aiogram imported with its model builds deferred: nothing built up front, everything usable."""

from __future__ import annotations

import subprocess
import sys
import textwrap

from bot.lazy_aiogram import defer_aiogram_model_builds

FRESH_INTERPRETER_CHECK = textwrap.dedent("""
    import bot
    from aiogram.methods import SendPhoto
    from aiogram.methods.base import Response
    from aiogram.types import Message, Update

    assert not Message.__pydantic_complete__, "built at import"
    assert not SendPhoto.__pydantic_complete__, "built at import"
    chat = {"id": -100, "type": "supergroup", "title": "t"}
    user = {"id": 7, "is_bot": False, "first_name": "Ann"}
    update = Update.model_validate({"update_id": 1, "message": {
        "message_id": 5, "date": 1, "chat": chat, "from": user, "text": "/draw cat",
        "entities": [{"type": "bot_command", "offset": 0, "length": 5}],
        "reply_to_message": {"message_id": 4, "date": 1, "chat": chat, "text": "a fox"}}})
    assert update.message.reply_to_message.text == "a fox"
    assert update.message.entities[0].type == "bot_command"
    sent = Response[Message].model_validate({"ok": True, "result": {
        "message_id": 6, "date": 2, "chat": chat,
        "photo": [{"file_id": "f", "file_unique_id": "u", "width": 1, "height": 1}]}})
    assert sent.result.photo[0].file_id == "f"
    assert SendPhoto(chat_id=1, photo="f").chat_id == 1
    print("ok")
""")


def test_a_fresh_import_defers_the_builds_and_every_model_still_works() -> None:
    result = subprocess.run([sys.executable, "-c", FRESH_INTERPRETER_CHECK],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


def test_does_nothing_once_aiogram_is_imported() -> None:
    import aiogram  # noqa: F401

    assert defer_aiogram_model_builds() is False
