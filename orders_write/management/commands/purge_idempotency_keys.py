"""Delete expired idempotency keys (older than settings.ORDERS_IDEMPOTENCY_KEY_TTL)."""

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

from orders_write.idempotency import expiry_cutoff, purge_expired
from orders_write.models import IdempotencyKey


class Command(BaseCommand):
    help = (
        "Delete idempotency keys older than ORDERS_IDEMPOTENCY_KEY_TTL. Expired keys are "
        "already treated as new; this only reclaims their rows. Safe to run at any time "
        "(e.g. hourly from cron)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--dry-run",
            action="store_true",
            help="Count the expired keys without deleting them.",
        )

    def handle(self, *args: object, dry_run: bool, **options: object) -> None:
        ttl = settings.ORDERS_IDEMPOTENCY_KEY_TTL
        if dry_run:
            expired = IdempotencyKey.objects.filter(created_at__lte=expiry_cutoff()).count()
            self.stdout.write(f"{expired} idempotency key(s) older than {ttl} would be deleted.")
            return
        deleted = purge_expired()
        self.stdout.write(
            self.style.SUCCESS(f"Deleted {deleted} idempotency key(s) older than {ttl}.")
        )
