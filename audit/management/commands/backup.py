"""`manage.py backup FILE`: the database and the var directory's keys in one tar file (mode 0600).

The work is in audit/backup.py; the command lives in the audit app because Django finds commands in apps only
and the audit history is what a backup must above all keep verifiable.
"""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, CommandParser

from audit.backup import BackupError, backup


class Command(BaseCommand):
    help = (
        "Write the database (pg_dump, or SQLite's online backup) and the var directory's keys (secret_key, "
        "control signing key, audit HMAC and signing keys, audit checkpoints) into a new tar file, mode 0600. "
        "Restore it with `manage.py restore FILE` (docs/upgrading.md)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", help="the tar file to create (it must not exist)")

    def handle(self, *args, **options) -> None:
        try:
            manifest = backup(Path(options["file"]))
        except BackupError as error:
            raise CommandError(str(error)) from error
        self.stdout.write(
            f"Backup written to {options['file']}: {manifest['database']} database, keys: "
            f"{', '.join(manifest['keys']) or 'none'}."
        )
        for elsewhere in manifest["kept_elsewhere"]:
            self.stdout.write(f"Not in the backup, keep it yourself: {elsewhere}.")
