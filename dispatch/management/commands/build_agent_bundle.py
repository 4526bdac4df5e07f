"""`manage.py build_agent_bundle`: the agent's wheel and its locked dependencies, for /agent/download/."""

from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from dispatch.bundle import BundleError, build_bundle


class Command(BaseCommand):
    help = (
        "Build the agent's wheel from a checkout's agents/ folder and download its locked dependency wheels "
        "(agents/requirements.lock, hashes checked) into AGENT_BUNDLE_DIR, which the console serves at "
        "/agent/download/ for hosts without a package index. Run it again after upgrading the console."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--source",
            type=Path,
            default=settings.BASE_DIR / "agents",
            help="the agent's source folder (default: agents/ of this checkout)",
        )
        parser.add_argument(
            "--wheelhouse",
            type=Path,
            default=settings.VAR_DIR / "wheelhouse",
            help="take the dependencies from this folder of wheels when it has them all (default var/wheelhouse)",
        )
        parser.add_argument(
            "--pip-option",
            action="append",
            default=[],
            metavar="OPTION",
            help="passed to `pip download`, e.g. --pip-option=--python-version=3.12 for hosts unlike this one",
        )

    def handle(self, *args, source, wheelhouse, pip_option, **options):
        wheelhouse = wheelhouse if wheelhouse.is_dir() else None
        try:
            bundle = build_bundle(source.resolve(), wheelhouse=wheelhouse, pip_options=pip_option)
        except BundleError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(
            f"Agent bundle: lvsweb-agent {bundle.agent_version} and {len(bundle.files) - 1} dependencies "
            f"in {bundle.folder}, served at /agent/download/."
        )
