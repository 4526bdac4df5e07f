"""`manage.py verify_audit`: check the audit chain and report the first broken link."""

from django.core.management.base import BaseCommand, CommandError

from audit.models import AuditEntry
from audit.recording import first_broken_link


class Command(BaseCommand):
    help = "Verify the audit history's hash chain; exit 1 naming the first entry that was altered or follows a gap."

    def handle(self, *args, **options):
        entry, reason = first_broken_link()
        if entry is not None:
            raise CommandError(
                f"Audit chain broken at entry #{entry.pk} ({entry.occurred_at:%Y-%m-%d %H:%M:%S}): {reason}."
            )
        count = AuditEntry.objects.count()
        self.stdout.write(self.style.SUCCESS(f"Audit chain intact: {count} entries verified."))
