"""`manage.py sync_broker_users`: re-create the agents' Redis users a broker restart forgot."""

from django.core.management.base import BaseCommand, CommandError

from dispatch.actions.broker import sync_broker_users
from dispatch.broker_acl import BrokerACLError


class Command(BaseCommand):
    help = (
        "Re-create the Redis ACL user of every enrolled host that the broker lacks (from the stored password "
        "hash) and delete users of this console that no enrolled host owns. Celery beat runs it every minute."
    )

    def handle(self, *args, **options):
        try:
            created, deleted = sync_broker_users()
        except BrokerACLError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(
            f"Broker users: {len(created)} re-created{': ' + ', '.join(created) if created else ''}, "
            f"{len(deleted)} deleted{': ' + ', '.join(deleted) if deleted else ''}."
        )
