"""Typed errors of the core (a damaged history, a read-only window, a model that went away)
raised inside an action or an event handler become one notification, and the screen goes on.

Textual stops a widget's message loop for good when one of its handlers raises, so these
errors are caught where they happen, not at the app: ``guard_errors`` wraps every ``action_*``
and ``on_*`` method of a screen class (and any others named)."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any, TypeVar

from ..errors import QwenTuiError

C = TypeVar("C", bound=type)


def _wrap(fn: Callable[..., Any]) -> Callable[..., Any]:
    if inspect.iscoroutinefunction(fn):

        @functools.wraps(fn)
        async def async_guarded(self: Any, *args: Any, **kwargs: Any) -> Any:
            try:
                return await fn(self, *args, **kwargs)
            except QwenTuiError as exc:
                self.notify(exc.one_line(), severity="error", timeout=15)
                return None

        return async_guarded

    @functools.wraps(fn)
    def guarded(self: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return fn(self, *args, **kwargs)
        except QwenTuiError as exc:
            self.notify(exc.one_line(), severity="error", timeout=15)
            return None

    return guarded


def guard_errors(*also: str) -> Callable[[C], C]:
    def decorate(cls: C) -> C:
        for klass in reversed(cls.__mro__):  # mixins' actions too (ChatActions)
            if klass.__module__.startswith("textual"):
                continue
            for name, value in vars(klass).items():
                wanted = name.startswith(("action_", "on_")) or name in also
                if wanted and inspect.isfunction(value) and not hasattr(value, "__guarded__"):
                    wrapped = _wrap(value)
                    wrapped.__guarded__ = True  # type: ignore[attr-defined]
                    setattr(cls, name, wrapped)
        return cls

    return decorate
