"""Rebuild projections from the whole event log, swapping them in atomically."""

import threading
import time

from django.core.management.base import BaseCommand, CommandError, CommandParser

from orders_read.engine import registry
from orders_read.engine.catchup import DEFAULT_BATCH_SIZE
from orders_read.engine.projection import Projection
from orders_read.engine.rebuild import Progress, RebuildResult, rebuild_each
from orders_read.engine.rebuild_lock import RebuildInProgress


class Command(BaseCommand):
    help = (
        "Rebuild projections from the whole event log with zero downtime: the old rows "
        "keep serving until one atomic switch; events committed meanwhile are included; "
        "an interrupted rebuild leaves the old rows in place. A second rebuild of the same "
        "projection while one runs is refused."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--projection",
            action="append",
            choices=registry.names(),
            help="Projection to rebuild (repeatable; default: all).",
        )
        parser.add_argument(
            "--batch-size",
            type=int,
            default=DEFAULT_BATCH_SIZE,
            help=f"Events read and rows written per round trip (default {DEFAULT_BATCH_SIZE}).",
        )
        parser.add_argument(
            "--jobs",
            type=int,
            default=None,
            help="Projections rebuilt at once, each on a connection of its own (default: all "
            "of them where their set-based folds run in PostgreSQL, else 1).",
        )

    # Rebuilds side by side report from their threads: one write at a time.
    _terminal = threading.Lock()

    def handle(self, *args: object, **options: object) -> None:
        batch_size = options["batch_size"]
        if batch_size < 1:
            raise CommandError("--batch-size must be at least 1")
        if options["jobs"] is not None and options["jobs"] < 1:
            raise CommandError("--jobs must be at least 1")
        projections = [registry.get(name) for name in options["projection"] or registry.names()]
        # Every projection not being rebuilt keeps serving and following meanwhile.
        results = rebuild_each(
            projections,
            jobs=options["jobs"],
            batch_size=batch_size,
            progress_of=self._progress_of if self.stdout.isatty() else None,
        )
        try:
            for result in results:
                self._report(result)
        except RebuildInProgress as error:
            raise CommandError(str(error)) from error

    def _report(self, result: RebuildResult) -> None:
        if self.stdout.isatty():
            with self._terminal:
                self.stdout.write("")
        rate = result.events / result.seconds if result.seconds else 0.0
        self.stdout.write(
            self.style.SUCCESS(
                f"{result.projection}: rebuilt {result.rows} rows from {result.events} events "
                f"(+{result.caught_up} committed meanwhile) in {result.seconds:.1f} s "
                f"({rate:,.0f} events/s); checkpoint {result.checkpoint}"
            )
        )
        if result.failures:
            self.stdout.write(
                self.style.WARNING(
                    f"{len(result.failures)} event(s) could not be applied and were "
                    "dead-lettered; see projection_status"
                )
            )

    def _progress_of(self, projection: Projection) -> Progress:
        """One rebuild's progress on the terminal line, its rate and ETA from its own start.

        Rebuilds side by side take turns on the line, each naming itself.
        """
        started = time.monotonic()

        def progress(done: int, total: int) -> None:
            elapsed = time.monotonic() - started
            rate = done / elapsed if elapsed else 0.0
            eta = (total - done) / rate if rate else 0.0
            percent = 100 * done / total if total else 100.0
            with self._terminal:
                self.stdout.write(
                    f"\r{projection.name}: {done:,}/{total:,} events ({percent:.0f}%), "
                    f"{rate:,.0f} events/s, ETA {eta:.0f} s",
                    ending="",
                )
                self.stdout.flush()

        return progress
