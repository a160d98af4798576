"""`python -m bot`: run the bot with long polling."""

from __future__ import annotations

import asyncio
import sys

from pydantic import ValidationError

from bot.config import Settings, describe_error


def load_settings() -> Settings:
    try:
        return Settings()
    except ValidationError as error:
        print(describe_error(error), file=sys.stderr)
        raise SystemExit(2) from None


def main() -> None:
    settings = load_settings()
    secrets = [value.get_secret_value() for value in
               (settings.bot_token, settings.yandex_api_key, settings.yandex_iam_token) if value]
    from bot.logging_setup import setup_logging

    setup_logging(settings.log_level, secrets)
    from bot.app import StartupError, create_application  # aiogram is slow: after the config

    async def run() -> None:
        application = await create_application(settings)
        await application.run_polling()

    try:
        asyncio.run(run())
    except StartupError as error:
        print(f"cannot start: {error}", file=sys.stderr)
        raise SystemExit(1) from None


if __name__ == "__main__":
    main()
