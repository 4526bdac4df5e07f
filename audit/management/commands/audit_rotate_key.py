"""`manage.py audit_rotate_key`: a new current HMAC key for the audit chain; older ones stay to verify."""

from django.core.management.base import BaseCommand, CommandError


class Command(BaseCommand):
    help = (
        "Add a new current HMAC key to the audit key file (var/audit-hmac-keys): new entries get macs made "
        "with it, older entries keep verifying with the keys after it in the file. Running consoles and workers "
        "pick it up at their next entry. Keep a copy of the file with the backups of the key material."
    )

    def handle(self, *args, **options):
        from audit import keys

        try:
            new_id = keys.rotate_hmac_key()
        except RuntimeError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(self.style.SUCCESS(f"New current audit HMAC key: {new_id}."))
