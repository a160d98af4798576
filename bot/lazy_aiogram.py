"""Import aiogram without building all of its ~460 pydantic models up front.

`aiogram.types` ends by calling `model_rebuild()` on every Telegram type, and pydantic gives each
model its own copy of every model it can reach: ~100 MB of validators and ~5 s of import, though
the bot uses a dozen of them. Here that rebuild is skipped and its namespace (the type names the
models refer to) is put into each model's module instead, so each model is built by pydantic
itself the first time it is used (aiogram already declares them `defer_build=True`). The bot then
starts in ~1 s at ~90 MB. Hand-written because neither aiogram nor pydantic has a switch for it.

`defer_aiogram_model_builds()` must run before anything imports aiogram: `bot/__init__.py` calls
it. If aiogram is already imported, it does nothing (the models are then built as usual).
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from typing import Any

from pydantic import BaseModel

_AIOGRAM = "aiogram"


def defer_aiogram_model_builds() -> bool:
    """Import aiogram with its model builds deferred; False if it was imported already."""
    if _AIOGRAM in sys.modules:
        return False
    namespace: dict[str, Any] = {}
    rebuild = BaseModel.__dict__["model_rebuild"]  # the classmethod object itself

    def deferred_rebuild(cls: type[BaseModel], /, **kwargs: Any) -> bool | None:
        types_namespace = kwargs.get("_types_namespace")
        if types_namespace is not None and cls.__module__.startswith(_AIOGRAM + "."):
            namespace.update(types_namespace)
            return None
        return rebuild.__func__(cls, **kwargs)  # type: ignore[no-any-return]

    BaseModel.model_rebuild = classmethod(deferred_rebuild)  # type: ignore[assignment,method-assign]
    try:
        import aiogram  # noqa: F401
    finally:
        BaseModel.model_rebuild = rebuild  # type: ignore[method-assign]
    _provide_names(namespace)
    return True


def _provide_names(namespace: dict[str, Any]) -> None:
    """Give every module that defines an unbuilt aiogram model the names its annotations use
    (they import them under `TYPE_CHECKING` only); existing names are left alone."""
    modules = {model.__module__ for model in _subclasses(BaseModel)
               if model.__module__.startswith(_AIOGRAM + ".") and not model.__pydantic_complete__}
    for name in modules:
        module_globals = vars(sys.modules[name])
        for key, value in namespace.items():
            module_globals.setdefault(key, value)


def _subclasses(cls: type[BaseModel]) -> Iterator[type[BaseModel]]:
    for subclass in cls.__subclasses__():
        yield subclass
        yield from _subclasses(subclass)
