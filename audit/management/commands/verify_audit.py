"""`manage.py verify_audit`: check the audit history against its hash chain, macs and signed checkpoints."""

import sys

from django.core.management.base import BaseCommand, CommandError, CommandParser

HELP = """Verify the audit history; exit 0 when intact, 1 naming what was altered, removed, inserted or reordered.

Without --export it walks the database in id order and checks, for each entry: that its previous-hash is the
hash of the entry before it (the first entry's is all zeros); that SHA-256 over its fields gives its hash;
and that its mac is HMAC-SHA256 of that hash with the key named by its key id (the key ring is
LVSWEB_AUDIT_HMAC_KEYS or var/audit-hmac-keys; entries written before the keyed chain are reported "not
keyed"). Then every line of the checkpoint file (LVSWEB_AUDIT_CHECKPOINT_FILE) must be signed by a trusted
Ed25519 key (the current signing key, LVSWEB_AUDIT_TRUSTED_KEYS, --public-key), and the entry it names must
exist with that hash and that many entries up to it: a rewrite or truncation before the newest checkpoint is
named; entries after it are listed as "not yet anchored".

With --export FILE it verifies a JSON export (the audit page's "Export JSON") with no database at all —
hashes, links and checkpoints; macs too when --hmac-keys is given. On a machine without the console, run the
same check as: python -m audit.verify --export FILE --checkpoints FILE --public-key FILE
(needs only Python and the cryptography package). See docs/audit.md."""


class Command(BaseCommand):
    help = HELP
    # With --export nothing may touch the database: the checks are skipped and the handler imports no model.
    requires_system_checks: list[str] = []
    requires_migrations_checks = False

    def create_parser(self, prog_name: str, subcommand: str, **kwargs):
        from argparse import RawDescriptionHelpFormatter

        return super().create_parser(prog_name, subcommand, formatter_class=RawDescriptionHelpFormatter, **kwargs)

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--export", metavar="FILE", help="verify this JSON export instead of the database")
        parser.add_argument(
            "--checkpoints",
            metavar="FILE",
            help="checkpoint file (default: LVSWEB_AUDIT_CHECKPOINT_FILE; with --export, none unless given)",
        )
        parser.add_argument(
            "--public-key",
            metavar="FILE",
            action="append",
            default=[],
            help="also trust checkpoints signed by this public key (base64 or PEM; repeatable)",
        )
        parser.add_argument("--hmac-keys", metavar="FILE", help="with --export: HMAC key file, to check macs too")

    def handle(self, *args, **options):
        if options["export"]:
            from audit import verify

            argv = ["--export", options["export"]]
            if options["checkpoints"]:
                argv += ["--checkpoints", options["checkpoints"]]
            for name in options["public_key"]:
                argv += ["--public-key", name]
            if options["hmac_keys"]:
                argv += ["--hmac-keys", options["hmac_keys"]]
            code = verify.main(argv)
            if code:
                sys.exit(code)
            return
        from audit import anchors
        from audit.verify import VerifyError

        try:
            report = anchors.verify_database(options["public_key"], options["checkpoints"])
        except (VerifyError, OSError) as exc:
            raise CommandError(str(exc)) from exc
        anchors.remember(report)
        lines = report.lines()
        if not report.ok:
            raise CommandError("\n".join(lines))
        self.stdout.write(self.style.SUCCESS(lines[0]))
        for line in lines[1:]:
            self.stdout.write(line)
