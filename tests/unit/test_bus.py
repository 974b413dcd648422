"""The command bus, without a database."""

from dataclasses import dataclass

import pytest

from orders_write import bus
from orders_write.commands import CommandResult, PlaceOrder
from orders_write.errors import CommandRejected, ErrorCode


@dataclass(frozen=True)
class Unregistered:
    pass


@dataclass(frozen=True)
class Probe:
    fail: bool


def test_unknown_command_type_gives_no_handler():
    result = bus.dispatch(Unregistered())
    assert not result.success
    assert result.code == ErrorCode.NO_HANDLER
    assert "Unregistered" in result.error


def test_a_rejection_becomes_a_failed_result(monkeypatch):
    handlers = dict(bus._handlers)
    monkeypatch.setattr(bus, "_handlers", handlers)

    @bus.register(Probe)
    def handle(command: Probe, actor) -> CommandResult:
        if command.fail:
            raise CommandRejected(ErrorCode.EMPTY_ORDER, "nope")
        return CommandResult.ok({"seen": True})

    assert bus.dispatch(Probe(fail=False)) == CommandResult.ok({"seen": True})
    failed = bus.dispatch(Probe(fail=True))
    assert (failed.success, failed.code, failed.error) == (False, ErrorCode.EMPTY_ORDER, "nope")


def test_a_command_type_has_exactly_one_handler():
    with pytest.raises(RuntimeError, match="already has a handler"):
        bus.register(PlaceOrder)(lambda command, actor: CommandResult.ok())


def test_commands_are_frozen():
    command = PlaceOrder(customer_id=1, payment_method_id=1, items=())
    with pytest.raises(AttributeError):
        command.customer_id = 2
