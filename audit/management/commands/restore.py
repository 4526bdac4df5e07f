"""`manage.py restore FILE`: a backup of `manage.py backup` into an empty database and this console's var paths.

The work is in audit/backup.py (the command lives in the audit app, as `backup` does).
"""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, CommandParser

from audit.backup import BackupError, restore


class Command(BaseCommand):
    help = (
        "Restore a backup of `manage.py backup` into the configured database, which must be empty, and put its "
        "keys where this console's settings look for them (a different file already there is kept as "
        "<name>.before-restore). Then run `manage.py migrate` and `manage.py verify_audit` (docs/upgrading.md)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", help="a tar file written by `manage.py backup`")

    def handle(self, *args, **options) -> None:
        try:
            manifest = restore(Path(options["file"]))
        except BackupError as error:
            raise CommandError(str(error)) from error
        self.stdout.write(
            f"Restored the {manifest['database']} database of {manifest['created_at']} and the keys: "
            f"{', '.join(manifest['keys']) or 'none'}."
        )
        for elsewhere in manifest["kept_elsewhere"]:
            self.stdout.write(f"Set it as before the backup, it was not in it: {elsewhere}.")
