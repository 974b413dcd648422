"""Rebuild projections from the whole event log, swapping them in atomically."""

import time

from django.core.management.base import BaseCommand, CommandError, CommandParser

from orders_read.engine import registry
from orders_read.engine.catchup import DEFAULT_BATCH_SIZE
from orders_read.engine.rebuild import rebuild
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

    def handle(self, *args: object, **options: object) -> None:
        batch_size = options["batch_size"]
        if batch_size < 1:
            raise CommandError("--batch-size must be at least 1")
        # One projection at a time: the others keep serving and following meanwhile.
        for name in options["projection"] or registry.names():
            self._started = time.monotonic()
            try:
                result = rebuild(
                    registry.get(name),
                    batch_size=batch_size,
                    progress=self._progress if self.stdout.isatty() else None,
                )
            except RebuildInProgress as error:
                raise CommandError(str(error)) from error
            if self.stdout.isatty():
                self.stdout.write("")
            rate = result.events / result.seconds if result.seconds else 0.0
            self.stdout.write(
                self.style.SUCCESS(
                    f"{name}: rebuilt {result.rows} rows from {result.events} events "
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

    def _progress(self, done: int, total: int) -> None:
        elapsed = time.monotonic() - self._started
        rate = done / elapsed if elapsed else 0.0
        eta = (total - done) / rate if rate else 0.0
        percent = 100 * done / total if total else 100.0
        self.stdout.write(
            f"\r{done:,}/{total:,} events ({percent:.0f}%), {rate:,.0f} events/s, ETA {eta:.0f} s",
            ending="",
        )
        self.stdout.flush()
