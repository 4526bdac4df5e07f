"""`manage.py ensure_admin`: on a first run, create the `admin` superuser and print its password once.

It also makes a first team, “Default”, owned by admin, so that the first cluster has a team to go into.
Idempotent: once any superuser exists it does nothing, so docker-compose.yml's one-shot `admin` service may run
at every `up`. `--password-file` takes the password from a file (a Docker secret) instead of printing one.
"""

import secrets
from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from teams.actions import create_team
from teams.models import Team


class Command(BaseCommand):
    help = "Create a superuser named admin with a random password when no superuser exists yet."

    def add_arguments(self, parser):
        parser.add_argument(
            "--password-file",
            default="",
            help="read admin's password from this file (its first line) instead of making and printing one; "
            "empty means a random password",
        )

    def handle(self, *args, **options):
        users = get_user_model().objects
        if users.filter(is_superuser=True).exists():
            return
        if users.filter(username="admin").exists():
            # Someone took the superuser rights from `admin`; creating it again would fail on its name.
            self.stderr.write(
                "No superuser exists and the user “admin” is not one; make one with `manage.py createsuperuser`."
            )
            return
        password_file = options["password_file"]
        password = read_password(password_file) if password_file else secrets.token_urlsafe(12)
        admin = users.create_superuser(username="admin", email="", password=password)
        if not Team.objects.exists():
            create_team(acting_user=None, name="Default", slug="default", owner=admin)
        if password_file:
            self.stdout.write(
                self.style.SUCCESS("Created the first administrator. Sign in as admin with the password in ")
                + f"{password_file}."
            )
            return
        self.stdout.write(
            self.style.SUCCESS("Created the first administrator. Sign in with:\n")
            + f"    user:     admin\n    password: {password}\n"
            + "This password is shown only now; change it under Account → Change password."
        )


def read_password(path: str) -> str:
    """The first line of `path`, without its line ending; a missing file or an empty line is refused."""
    try:
        lines = Path(path).read_text().splitlines()
    except OSError as error:
        raise CommandError(f"--password-file: {path} cannot be read ({error.strerror}).") from error
    if not lines or not lines[0]:
        raise CommandError(f"--password-file: {path} is empty; write the password on its first line.")
    return lines[0]
