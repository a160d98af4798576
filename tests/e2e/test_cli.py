"""`python -m bot check|draw|--help` and start-up errors, as real processes against the
emulators."""

from __future__ import annotations

import asyncio
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.e2e.harness import bot_environment
from tests.fakes.iam import IamEmulator
from tests.fakes.telegram import TelegramEmulator
from tests.fakes.yandexart import YandexArtEmulator


@dataclass
class Result:
    code: int
    out: list[str]
    err: list[str]


async def run_bot_command(env: dict[str, str], *args: str, cwd: Path) -> Result:
    full_env = {"PATH": os.environ.get("PATH", ""), "PYTHONUNBUFFERED": "1", **env}
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", *args, cwd=cwd, env=full_env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode is not None
    return Result(process.returncode, stdout.decode().splitlines(),
                  stderr.decode().splitlines())


def cli_environment(telegram: TelegramEmulator, yandex: YandexArtEmulator,
                    tmp_path: Path, **overrides: object) -> dict[str, str]:
    return bot_environment(telegram, yandex, tmp_path / "bot.sqlite3",
                           **{"log_level": "WARNING", **overrides})


def sa_environment(telegram: TelegramEmulator, yandex: YandexArtEmulator, iam: IamEmulator,
                   tmp_path: Path) -> dict[str, str]:
    iam.write_key(tmp_path / "key.json")
    env = cli_environment(telegram, yandex, tmp_path, yandex_sa_key_file=tmp_path / "key.json",
                          yandex_iam_url=iam.tokens_url)
    env.pop("YANDEX_API_KEY")
    return env


# ------------------------------------------------------------------ help


async def test_help_lists_the_commands(tmp_path: Path) -> None:
    result = await run_bot_command({}, "--help", cwd=tmp_path)
    assert result.code == 0
    text = "\n".join(result.out)
    for command in ("run", "check", "draw"):
        assert f"    {command} " in text


# ------------------------------------------------------------------ check


async def test_check_all_good(
    telegram: TelegramEmulator, yandex: YandexArtEmulator, tmp_path: Path
) -> None:
    result = await run_bot_command(cli_environment(telegram, yandex, tmp_path), "check",
                                   cwd=tmp_path)
    assert result.code == 0, result
    assert result.err == []
    text = "\n".join(result.out)
    assert "ok: Telegram: BOT_TOKEN is the bot @ourbot" in text
    assert "ok: YandexArt accepts YANDEX_API_KEY" in text
    assert "ok: database" in text
    assert "note: model access not checked" in text
    assert yandex.accepted_submits == 0  # nothing generated, nothing billed
    assert [r.status for r in yandex.polls()] == [404]


async def test_check_names_each_wrong_setting(
    telegram: TelegramEmulator, yandex: YandexArtEmulator, tmp_path: Path
) -> None:
    env = cli_environment(telegram, yandex, tmp_path, bot_token="999:WRONG-token-value",
                          yandex_api_key="wrong-key-SECRET")
    result = await run_bot_command(env, "check", cwd=tmp_path)
    assert result.code == 1
    assert len(result.err) == 2
    assert result.err[0].startswith("problem: Telegram rejected BOT_TOKEN (401")
    assert result.err[1].startswith("problem: YandexArt rejected YANDEX_API_KEY (HTTP 401")
    assert "ok: database" in "\n".join(result.out)
    for secret in ("WRONG-token-value", "wrong-key-SECRET"):
        assert secret not in "\n".join(result.out + result.err)


async def test_check_without_the_role_says_so(
    telegram: TelegramEmulator, yandex: YandexArtEmulator, tmp_path: Path
) -> None:
    yandex.fail_next("poll", status=403, grpc_code=7, message="Permission denied")
    result = await run_bot_command(cli_environment(telegram, yandex, tmp_path), "check",
                                   cwd=tmp_path)
    assert result.code == 1
    [line] = result.err
    assert "YANDEX_API_KEY (HTTP 403" in line and "ai.imageGeneration.user" in line


async def test_check_unreachable_telegram_and_database(
    telegram: TelegramEmulator, yandex: YandexArtEmulator, tmp_path: Path
) -> None:
    (tmp_path / "file").write_text("not a folder")
    env = cli_environment(telegram, yandex, tmp_path, telegram_api_url="http://127.0.0.1:9",
                          database_path=tmp_path / "file" / "bot.sqlite3")
    result = await run_bot_command(env, "check", cwd=tmp_path)
    assert result.code == 1
    assert len(result.err) == 2
    assert "TELEGRAM_API_URL=http://127.0.0.1:9" in result.err[0]
    assert "DATABASE_PATH=" in result.err[1]


async def test_check_generate_makes_one_generation(
    telegram: TelegramEmulator, yandex: YandexArtEmulator, tmp_path: Path
) -> None:
    result = await run_bot_command(cli_environment(telegram, yandex, tmp_path), "check",
                                   "--generate", cwd=tmp_path)
    assert result.code == 0, result
    assert any(line.startswith("ok: YandexArt generated a test image") for line in result.out)
    assert yandex.accepted_submits == 1


async def test_check_generate_with_a_denied_model(
    telegram: TelegramEmulator, yandex: YandexArtEmulator, tmp_path: Path
) -> None:
    yandex.denied_models.add("yandex-art")
    result = await run_bot_command(cli_environment(telegram, yandex, tmp_path), "check",
                                   "--generate", cwd=tmp_path)
    assert result.code == 1
    [line] = result.err
    assert "Access to model" in line and "check YANDEX_ART_MODEL" in line


async def test_check_with_a_service_account_key(
    telegram: TelegramEmulator, yandex: YandexArtEmulator, iam: IamEmulator, tmp_path: Path
) -> None:
    yandex.iam_tokens.clear()
    result = await run_bot_command(sa_environment(telegram, yandex, iam, tmp_path), "check",
                                   cwd=tmp_path)
    assert result.code == 0, result
    assert "ok: IAM: the key in YANDEX_SA_KEY_FILE was exchanged for an IAM token" in result.out
    assert "ok: YandexArt accepts YANDEX_SA_KEY_FILE (folder b1gtestfolder)" in result.out
    [issued] = iam.issued
    assert yandex.polls()[0].headers["Authorization"] == f"Bearer {issued.value}"


async def test_check_with_a_revoked_key(
    telegram: TelegramEmulator, yandex: YandexArtEmulator, iam: IamEmulator, tmp_path: Path
) -> None:
    env = sa_environment(telegram, yandex, iam, tmp_path)
    iam.revoke(next(iter(iam.keys)))
    result = await run_bot_command(env, "check", cwd=tmp_path)
    assert result.code == 1
    [line] = result.err
    assert line.startswith("problem: IAM refused the service-account key in YANDEX_SA_KEY_FILE")
    assert yandex.requests == []


# ------------------------------------------------------------------ draw


async def test_draw_writes_the_image(
    telegram: TelegramEmulator, yandex: YandexArtEmulator, tmp_path: Path
) -> None:
    output = tmp_path / "out.jpg"
    result = await run_bot_command(cli_environment(telegram, yandex, tmp_path), "draw",
                                   "a red cat", "--ar", "16:9", "--seed", "7", "-o", str(output),
                                   cwd=tmp_path)
    assert result.code == 0, result
    [operation] = yandex.operations.values()
    assert output.read_bytes() == operation.image
    body = yandex.submits()[0].body
    assert body is not None
    assert body["messages"] == [{"text": "a red cat", "weight": 1}]
    assert int(body["generationOptions"]["seed"]) == 7
    assert body["generationOptions"]["aspectRatio"] == {"widthRatio": "16", "heightRatio": "9"}
    assert result.out == [f"ok: wrote {output} ({len(operation.image)} bytes; --seed 7 --ar 16:9)"]
    assert telegram.calls == []  # no Telegram involved


async def test_draw_with_a_service_account_key(
    telegram: TelegramEmulator, yandex: YandexArtEmulator, iam: IamEmulator, tmp_path: Path
) -> None:
    yandex.iam_tokens.clear()
    output = tmp_path / "out.jpg"
    result = await run_bot_command(sa_environment(telegram, yandex, iam, tmp_path), "draw",
                                   "a", "lighthouse", "-o", str(output), cwd=tmp_path)
    assert result.code == 0, result
    assert output.read_bytes()[:3] == b"\xff\xd8\xff"
    assert "--seed " in result.out[0]  # a random seed, printed so the image can be redone


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["something forbidden"], "content filter refused the prompt"),
        (["x" * 501], "at most 500"),
    ],
)
async def test_draw_problems_are_one_line(
    telegram: TelegramEmulator, yandex: YandexArtEmulator, tmp_path: Path, args: list[str],
    needle: str,
) -> None:
    output = tmp_path / "out.jpg"
    result = await run_bot_command(cli_environment(telegram, yandex, tmp_path), "draw", *args,
                                   "-o", str(output), cwd=tmp_path)
    assert result.code == 1
    [line] = result.err
    assert line.startswith("problem: ") and needle in line
    assert not output.exists()
    assert yandex.accepted_submits == 0


async def test_draw_rejects_bad_options(tmp_path: Path) -> None:
    result = await run_bot_command({}, "draw", "cat", "--ar", "1:9", "-o", "x.jpg",
                                   cwd=tmp_path)
    assert result.code == 2
    assert "argument --ar" in result.err[-1]


# ------------------------------------------------------------------ start-up errors


async def test_two_credentials_are_one_line(
    telegram: TelegramEmulator, yandex: YandexArtEmulator, tmp_path: Path
) -> None:
    env = cli_environment(telegram, yandex, tmp_path, yandex_iam_token="t1.SECRET-token")
    result = await run_bot_command(env, cwd=tmp_path)
    assert result.code == 2
    assert result.err == [
        "configuration error: set exactly one of YANDEX_API_KEY, YANDEX_IAM_TOKEN or "
        "YANDEX_SA_KEY_FILE (YANDEX_API_KEY and YANDEX_IAM_TOKEN are set)"
    ]


async def test_no_credential_is_one_line(
    telegram: TelegramEmulator, yandex: YandexArtEmulator, tmp_path: Path
) -> None:
    env = cli_environment(telegram, yandex, tmp_path)
    env.pop("YANDEX_API_KEY")
    for args in ((), ("check",)):
        result = await run_bot_command(env, *args, cwd=tmp_path)
        assert result.code == 2
        assert result.err == [
            "configuration error: set exactly one of YANDEX_API_KEY, YANDEX_IAM_TOKEN or "
            "YANDEX_SA_KEY_FILE (none is set)"
        ]


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        (None, "no such file"),
        ("{not json", "is not JSON"),
        ('{"id": "aje1", "private_key": "-----BEGIN PRIVATE KEY-----\\nSECRET"}',
         "lacks service_account_id"),
        ('{"id": "aje1", "service_account_id": "ajs1", "private_key": "SECRET"}',
         "private_key is not a PEM private key"),
        ("folder", "it is a directory"),
    ],
)
async def test_unusable_key_file_is_one_line(
    telegram: TelegramEmulator, yandex: YandexArtEmulator, tmp_path: Path,
    content: str | None, needle: str,
) -> None:
    key = tmp_path / "key.json"
    if content == "folder":
        key.mkdir()
    elif content is not None:
        key.write_text(content)
    env = cli_environment(telegram, yandex, tmp_path, yandex_sa_key_file=key)
    env.pop("YANDEX_API_KEY")
    result = await run_bot_command(env, cwd=tmp_path)
    assert result.code == 2
    [line] = result.err
    assert line.startswith("configuration error: YANDEX_SA_KEY_FILE ")
    assert needle in line
    assert "SECRET" not in line
    assert telegram.calls == []
