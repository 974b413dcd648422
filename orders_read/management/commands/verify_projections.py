"""Compare the read model with the write models; optionally repair the drift."""

from django.core.management.base import BaseCommand, CommandError, CommandParser

from orders_read import verify
from orders_read.daily_sales import verify as daily_verify


class Command(BaseCommand):
    help = (
        "Recompute every order summary and every day's sales figures from the write models "
        "and compare them. Prints each drift (missing, extra, differs) and exits 1 if there "
        "is any; --repair re-projects drifted orders from the event log and rebuilds the "
        "daily figures (exit 0 once repaired)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--repair", action="store_true", help="Re-project drifted rows from the log."
        )
        parser.add_argument("--batch-size", type=int, default=2000)

    def handle(self, *args: object, repair: bool, batch_size: int, **options: object) -> None:
        drifts = self.check_summaries(repair, batch_size) + self.check_daily_sales(repair)
        if not drifts:
            self.stdout.write(self.style.SUCCESS("No drift: the read model matches the write side"))
            return
        if not repair:
            raise CommandError(f"{drifts} drifted row(s); run with --repair to fix them")
        remaining = sum(1 for _ in verify.find_drift(batch_size)) + len(daily_verify.find_drift())
        if remaining:
            raise CommandError(f"{remaining} row(s) still drift after repair")
        self.stdout.write(self.style.SUCCESS(f"Repaired {drifts} drifted row(s)"))

    def check_summaries(self, repair: bool, batch_size: int) -> int:
        drifts = 0
        for drift in verify.find_drift(batch_size):
            drifts += 1
            self.stdout.write(self.style.WARNING(drift.describe()))
            if repair:
                verify.repair(drift)
        return drifts

    def check_daily_sales(self, repair: bool) -> int:
        drifts = daily_verify.find_drift()
        for drift in drifts:
            self.stdout.write(self.style.WARNING(drift.describe()))
        if drifts and repair:
            daily_verify.repair()
        return len(drifts)
