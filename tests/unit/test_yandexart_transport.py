"""The aiohttp-backed httpx transport: what it sends, what it returns, and which httpx error a
failure becomes (the client's billing decisions hang on "not sent" vs "maybe sent")."""

from __future__ import annotations

import asyncio
import gzip
import socket
from collections.abc import AsyncIterator

import aiohttp
import httpx
import pytest
from aiohttp import web

from bot.yandexart.transport import AiohttpTransport, _as_httpx


def client(timeout: float = 5.0) -> httpx.AsyncClient:
    return httpx.AsyncClient(timeout=httpx.Timeout(timeout, connect=2.0),
                             transport=AiohttpTransport(aiohttp.ClientSession))


@pytest.fixture
async def server() -> AsyncIterator[str]:
    async def echo(request: web.Request) -> web.Response:
        return web.json_response({
            "method": request.method,
            "authorization": request.headers.get("Authorization"),
            "body": (await request.read()).decode(),
        }, headers={"x-request-id": "r-1"}, status=201)

    async def zipped(request: web.Request) -> web.Response:
        return web.Response(body=gzip.compress(b'{"done": true}'),
                            headers={"Content-Encoding": "gzip",
                                     "Content-Type": "application/json"})

    async def slow(request: web.Request) -> web.Response:
        await asyncio.sleep(2)
        return web.json_response({})

    app = web.Application()
    app.router.add_route("*", "/echo", echo)
    app.router.add_get("/zipped", zipped)
    app.router.add_get("/slow", slow)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    yield f"http://127.0.0.1:{port}"
    await runner.cleanup()


async def test_sends_method_headers_and_body_and_returns_the_answer(server: str) -> None:
    async with client() as http:
        answer = await http.post(server + "/echo", json={"prompt": "кот"},
                                 headers={"Authorization": "Api-Key k"})
    assert answer.status_code == 201
    assert answer.headers["x-request-id"] == "r-1"
    assert answer.json() == {"method": "POST", "authorization": "Api-Key k",
                             "body": '{"prompt":"кот"}'}


async def test_a_get_sends_no_body(server: str) -> None:
    async with client() as http:
        answer = await http.get(server + "/echo")
    assert answer.json()["body"] == ""


async def test_a_compressed_answer_is_decoded(server: str) -> None:
    async with client() as http:
        answer = await http.get(server + "/zipped")
    assert answer.json() == {"done": True}


async def test_connections_are_reused(server: str) -> None:
    transport = AiohttpTransport(aiohttp.ClientSession)
    async with httpx.AsyncClient(transport=transport) as http:
        for _ in range(3):
            await http.get(server + "/echo")
        session = transport._session
        assert session is not None and session.connector is not None
        assert len(session.connector._conns) == 1  # one idle keep-alive connection
    assert session.closed


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def test_a_refused_connection_is_a_connect_error() -> None:
    async with client() as http:
        with pytest.raises(httpx.ConnectError):
            await http.post(f"http://127.0.0.1:{free_port()}/echo", json={})


async def test_an_answer_lost_after_sending_is_a_read_error_not_a_connect_error() -> None:
    received = asyncio.Event()

    async def hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        received.set()
        writer.close()

    server = await asyncio.start_server(hang_up, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server, client() as http:
        with pytest.raises(httpx.TransportError) as caught:
            await http.post(f"http://127.0.0.1:{port}/submit", json={})
    assert received.is_set()
    assert isinstance(caught.value, httpx.ReadError)


async def test_a_slow_answer_is_a_read_timeout(server: str) -> None:
    async with client(timeout=0.2) as http:
        with pytest.raises(httpx.ReadTimeout):
            await http.get(server + "/slow")


@pytest.fixture
async def proxy() -> AsyncIterator[tuple[str, list[str]]]:
    """A forward proxy that answers every request itself and notes which URL it was for."""
    seen: list[str] = []

    async def forward(request: web.Request) -> web.Response:
        seen.append(str(request.url))
        return web.json_response({"via": "proxy"})

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", forward)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    yield f"http://127.0.0.1:{runner.addresses[0][1]}", seen
    await runner.cleanup()


async def test_the_environments_proxy_is_used(
    proxy: tuple[str, list[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    address, seen = proxy
    monkeypatch.setenv("HTTP_PROXY", address)
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    async with client() as http:
        answer = await http.get("http://operation.example.invalid/operations/op-1")
    assert answer.json() == {"via": "proxy"}
    assert seen == ["http://operation.example.invalid/operations/op-1"]


async def test_no_proxy_hosts_are_reached_directly(
    server: str, proxy: tuple[str, list[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    address, seen = proxy
    monkeypatch.setenv("HTTP_PROXY", address)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    async with client() as http:
        answer = await http.get(server + "/echo")
    assert answer.json()["method"] == "GET"
    assert seen == []


def test_anything_but_a_network_failure_is_left_to_be_raised_as_it_is() -> None:
    assert _as_httpx(RuntimeError("a bug, not the network")) is None
    assert isinstance(_as_httpx(aiohttp.ServerDisconnectedError()), httpx.ReadError)
    assert isinstance(_as_httpx(aiohttp.SocketTimeoutError()), httpx.ReadTimeout)
    assert isinstance(_as_httpx(aiohttp.ConnectionTimeoutError()), httpx.ConnectTimeout)
