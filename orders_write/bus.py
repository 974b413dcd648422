"""The command bus: one handler per command type, every outcome a ``CommandResult``."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, TypeVar

from common import log_context, tracing
from orders_write.commands import SYSTEM, Actor, CommandResult
from orders_write.errors import CommandRejected, ErrorCode
from orders_write.metrics import COMMAND_DURATION, COMMANDS

C = TypeVar("C")
Handler = Callable[[Any, Actor], CommandResult]

_handlers: dict[type, Handler] = {}


def register(command_type: type[C]) -> Callable[[Handler], Handler]:
    """Register the handler for ``command_type`` (exactly one per type)."""

    def decorator(handler: Handler) -> Handler:
        existing = _handlers.get(command_type)
        if existing is not None and existing is not handler:
            raise RuntimeError(f"{command_type.__name__} already has a handler: {existing!r}")
        _handlers[command_type] = handler
        return handler

    return decorator


def dispatch(command: object, *, actor: Actor = SYSTEM) -> CommandResult:
    """Run ``command`` through its handler.

    A rule rejection is raised inside the handler's transaction (which rolls back,
    so a rejected command writes nothing) and returned here as a failed result. Each
    outcome is counted (``ok`` or the error code), each duration measured, and each
    command traced in a span of its own when tracing is on.
    """
    name = type(command).__name__
    started = time.perf_counter()
    with tracing.command_span(name) as span:
        result = _run(command, actor)
        outcome = "ok" if result.success else str(result.code)
        tracing.set_outcome(span, outcome)
    log_context.note(command=name, outcome=outcome)
    COMMAND_DURATION.labels(name).observe(time.perf_counter() - started)
    COMMANDS.labels(name, outcome).inc()
    return result


def _run(command: object, actor: Actor) -> CommandResult:
    handler = _handlers.get(type(command))
    if handler is None:
        return CommandResult.fail(ErrorCode.NO_HANDLER, f"No handler for {type(command).__name__}")
    try:
        return handler(command, actor)
    except CommandRejected as rejection:
        return CommandResult.fail(rejection.code, rejection.message)
