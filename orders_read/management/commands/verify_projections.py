"""Compare every OrderSummary with the write models; optionally repair the drift."""

from django.core.management.base import BaseCommand, CommandError, CommandParser

from orders_read import verify


class Command(BaseCommand):
    help = (
        "Recompute every order summary from the write models and compare field by field. "
        "Prints each drift (missing, extra, differs) and exits 1 if there is any; "
        "--repair re-projects drifted orders from the event log (exit 0 once repaired)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--repair", action="store_true", help="Re-project drifted orders from the log."
        )
        parser.add_argument("--batch-size", type=int, default=2000)

    def handle(self, *args: object, repair: bool, batch_size: int, **options: object) -> None:
        drifts = 0
        for drift in verify.find_drift(batch_size):
            drifts += 1
            self.stdout.write(self.style.WARNING(drift.describe()))
            if repair:
                verify.repair(drift)
        if not drifts:
            self.stdout.write(self.style.SUCCESS("No drift: the read model matches the write side"))
            return
        if not repair:
            raise CommandError(f"{drifts} drifted order(s); run with --repair to fix them")
        remaining = sum(1 for _ in verify.find_drift(batch_size))
        if remaining:
            raise CommandError(f"{remaining} order(s) still drift after repair")
        self.stdout.write(self.style.SUCCESS(f"Repaired {drifts} drifted order(s)"))
