"""`manage.py ensure_admin`: on a first run, create the `admin` superuser and print its password once.

It also makes a first team, “Default”, owned by admin, so that the first cluster has a team to go into.
"""

import secrets

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand

from teams.actions import create_team
from teams.models import Team


class Command(BaseCommand):
    help = "Create a superuser named admin with a random password when no superuser exists yet."

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
        password = secrets.token_urlsafe(12)
        admin = users.create_superuser(username="admin", email="", password=password)
        if not Team.objects.exists():
            create_team(acting_user=None, name="Default", slug="default", owner=admin)
        self.stdout.write(
            self.style.SUCCESS("Created the first administrator. Sign in with:\n")
            + f"    user:     admin\n    password: {password}\n"
            + "This password is shown only now; change it under Account → Change password."
        )
