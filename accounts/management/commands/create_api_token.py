"""`manage.py create_api_token USER NAME`: make a personal API token and print its key once."""

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from accounts.actions import create_api_token


class Command(BaseCommand):
    help = "Create a personal API token for a user and print the key (it is stored hashed, shown once)."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("name", help="what the token is for")
        parser.add_argument("--read-only", action="store_true", help="the token may only read")

    def handle(self, *args, username: str, name: str, read_only: bool, **options):
        user = get_user_model().objects.filter(username=username).first()
        if user is None:
            raise CommandError(f"No user named “{username}”.")
        try:
            _token, key = create_api_token(acting_user=None, user=user, name=name, read_only=read_only)
        except ValidationError as exc:
            problems = (f"{field}: {' '.join(errors)}" for field, errors in exc.message_dict.items())
            raise CommandError(" ".join(problems)) from None
        self.stdout.write(key)
