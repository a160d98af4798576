"""The router tree (handlers/__init__.py): nothing in it is run in a worker thread."""

from __future__ import annotations

from collections.abc import Iterator

from aiogram import Router
from aiogram.dispatcher.event.handler import CallableObject

from handlers import build_router


def callables(router: Router) -> Iterator[tuple[str, CallableObject]]:
    for name, observer in router.observers.items():
        where = f"{router.name}.{name}"
        # (the observer's own filters, set with router.<event>.filter(...))
        for own in observer._handler.filters or []:
            yield f"{where} filter", own
        for handler in observer.handlers:
            yield f"{where} handler {handler.callback!r}", handler
            for each in handler.filters or []:
                yield f"{where} filter of {handler.callback!r}", each
    for child in router.sub_routers:
        yield from callables(child)


def test_every_filter_and_handler_is_a_coroutine() -> None:
    # aiogram runs a plain callable (a magic filter `F.…` too) through asyncio.to_thread: a trip
    # to a worker thread per update, which in a burst cost more than the rest of the dispatch.
    found = list(callables(build_router()))
    assert len(found) > 20
    assert [where for where, each in found if not each.awaitable] == []
