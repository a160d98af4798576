"""`python -m bench.naive_bot`: the bot with the naive polling strategy, the benchmark's baseline.

Exactly `python -m bot`, except that the generation service is switched to what most bots do:
every job polled at a fixed interval, submits and polls not paced at all
(`ServiceSettings.naive_poll_interval`). The interval comes from `BENCH_NAIVE_POLL_INTERVAL`
(seconds, default 1), a variable only this entry point reads: it is not a setting of the bot.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import sys

ENV_INTERVAL = "BENCH_NAIVE_POLL_INTERVAL"
DEFAULT_INTERVAL = 1.0


def naive_interval() -> float:
    raw = os.environ.get(ENV_INTERVAL, "")
    try:
        interval = float(raw) if raw.strip() else DEFAULT_INTERVAL
    except ValueError:
        interval = -1.0
    if interval <= 0:
        print(f"configuration error: {ENV_INTERVAL} must be a positive number of seconds",
              file=sys.stderr)
        raise SystemExit(2)
    return interval


def main() -> None:
    from bot.__main__ import freeze_startup_objects, load_settings

    interval = naive_interval()
    settings = load_settings()
    secrets = [value.get_secret_value() for value in
               (settings.bot_token, settings.yandex_api_key, settings.yandex_iam_token) if value]
    from bot.logging_setup import setup_logging

    setup_logging(settings.log_level, secrets)
    from bot.app import StartupError, create_application

    async def run() -> None:
        application = await create_application(settings)
        freeze_startup_objects()  # as `python -m bot` does
        service = application.deps.service
        service.settings = dataclasses.replace(service.settings, naive_poll_interval=interval)
        await application.run_polling()

    try:
        asyncio.run(run())
    except StartupError as error:
        print(f"cannot start: {error}", file=sys.stderr)
        raise SystemExit(1) from None


if __name__ == "__main__":
    main()
