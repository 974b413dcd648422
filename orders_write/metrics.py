"""The write side's metrics: commands by outcome and duration, events appended by type."""

from prometheus_client import Counter, Histogram

COMMANDS = Counter(
    "orders_commands",
    "Commands dispatched, by command and outcome (ok or the rule's error code).",
    ["command", "outcome"],
)
COMMAND_DURATION = Histogram(
    "orders_command_duration_seconds",
    "Time to dispatch a command, its transaction included.",
    ["command"],
)
EVENTS_APPENDED = Counter(
    "orders_events_appended",
    "Events appended to the log and committed, by type.",
    ["type"],
)
