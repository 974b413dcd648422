"""Apply the events the read model has not seen yet, once or continuously."""

import signal
import threading
from types import FrameType

from django.core.management.base import BaseCommand, CommandError, CommandParser

from orders_read.engine import registry
from orders_read.engine.catchup import DEFAULT_BATCH_SIZE, PassResult, catch_up_all
from orders_read.engine.follower import Follower


class Command(BaseCommand):
    help = (
        "Catch projections up from the event log after their checkpoints. One pass by "
        "default; --follow keeps going (LISTEN/NOTIFY on PostgreSQL, polling on SQLite) "
        "until SIGTERM or SIGINT."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--projection",
            action="append",
            choices=registry.names(),
            help="Projection to catch up (repeatable; default: all).",
        )
        parser.add_argument("--batch-size", type=int, default=DEFAULT_BATCH_SIZE)
        parser.add_argument("--follow", action="store_true", help="Keep following the log.")
        parser.add_argument(
            "--poll-interval",
            type=float,
            default=1.0,
            help="Seconds between checks when no notification arrives (default 1).",
        )

    def handle(self, *args: object, **options: object) -> None:
        names = options["projection"] or registry.names()
        batch_size = options["batch_size"]
        if batch_size < 1:
            raise CommandError("--batch-size must be at least 1")
        if not options["follow"]:
            for result in catch_up_all(names, batch_size=batch_size):
                self._report(result)
            return

        stop = threading.Event()

        def request_stop(signum: int, frame: FrameType | None) -> None:
            self.stdout.write(f"{signal.Signals(signum).name} received, stopping")
            stop.set()

        signal.signal(signal.SIGTERM, request_stop)
        signal.signal(signal.SIGINT, request_stop)
        self.stdout.write(f"Following the event log for {', '.join(names)}")
        Follower(
            names,
            batch_size=batch_size,
            poll_interval=options["poll_interval"],
            stop=stop,
            on_pass=self._report_progress,
            on_standby=lambda: self.stdout.write("Another follower is active; standing by"),
        ).run()
        self.stdout.write(self.style.SUCCESS("Stopped cleanly"))

    def _report(self, result: PassResult) -> None:
        self.stdout.write(
            self.style.SUCCESS(
                f"{result.projection}: {result.events} events read, "
                f"{result.dead_lettered} dead-lettered, "
                f"{result.recovered}/{result.retried} dead letters recovered; "
                f"checkpoint {result.checkpoint}"
            )
        )

    def _report_progress(self, results: list[PassResult]) -> None:
        for result in results:
            if result.events or result.dead_lettered or result.recovered:
                self._report(result)
