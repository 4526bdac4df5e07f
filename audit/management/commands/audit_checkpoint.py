"""`manage.py audit_checkpoint`: sign and write a checkpoint of the newest audit entry now."""

from django.core.management.base import BaseCommand, CommandError, CommandParser


class Command(BaseCommand):
    help = (
        "Sign a checkpoint of the newest audit entry (its id, hash, the number of entries, the time) with the "
        "audit signing key and append it to the checkpoint file and the audit streams — before a backup, after "
        "an incident. The entries since the previous checkpoint are verified first. --public-key prints the "
        "public key auditors need to verify checkpoints (docs/audit.md)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--public-key", action="store_true", help="print the signing public key and stop")

    def handle(self, *args, **options):
        from audit import anchors, keys, streaming

        if options["public_key"]:
            self.stdout.write(keys.signing_public_key())
            return
        try:
            checkpoint = anchors.write_checkpoint(check=True)
        except anchors.CheckpointRefused as exc:
            raise CommandError(f"Not signed — the entries since the last checkpoint do not verify: {exc}") from exc
        if checkpoint is None:
            self.stdout.write("No audit entries yet: nothing to anchor.")
            return
        streaming.deliver()
        self.stdout.write(self.style.SUCCESS(f"Checkpoint written: entry #{checkpoint.entry_id} ({checkpoint.hash})."))
