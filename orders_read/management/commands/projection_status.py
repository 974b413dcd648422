"""Show each projection's checkpoint, the log head, lag, and dead letters."""

from django.core.management.base import BaseCommand

from orders_read.engine.status import all_statuses


class Command(BaseCommand):
    help = "Show each projection's checkpoint, the event log head, lag, and dead letters."

    def handle(self, *args: object, **options: object) -> None:
        for status in all_statuses():
            style = self.style.WARNING if status.dead_letter_count else self.style.SUCCESS
            self.stdout.write(
                style(
                    f"{status.name}: checkpoint {status.checkpoint}, "
                    f"head position {status.head_position}, "
                    f"lag {status.lag_events_text} events / {status.lag_seconds:.1f} s, "
                    f"{status.dead_letter_count} dead letters"
                )
            )
            for letter in status.dead_letters:
                self.stdout.write(
                    f"  #{letter.position} {letter.event_type} order {letter.stream_id}: "
                    f"{letter.attempts} attempts, last {letter.last_failed_at:%Y-%m-%d %H:%M:%S}"
                    f" UTC: {letter.error}"
                )
            if status.dead_letter_count > len(status.dead_letters):
                self.stdout.write(
                    f"  ... and {status.dead_letter_count - len(status.dead_letters)} more"
                )
