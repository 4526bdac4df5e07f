"""A broker account row that goes (revocation, or its host deleted) takes its Redis user with it.

Host deletion belongs to the inventory (clusters), a layer below dispatch that cannot call it; the account
row is dispatch's own and is deleted with the host by cascade, so this receiver is where the Redis user of
a deleted host is dropped. A drop that cannot reach Redis is logged; `sync_broker_users` deletes it later.
"""

import logging

from django.db import transaction
from django.db.models.signals import post_delete
from django.dispatch import receiver

from dispatch import broker_acl
from dispatch.models import BrokerAccount

log = logging.getLogger(__name__)


@receiver(post_delete, sender=BrokerAccount, dispatch_uid="agents.drop_broker_user")
def drop_broker_user(sender, instance: BrokerAccount, **kwargs) -> None:
    """Once the deletion is committed, delete the agent's Redis user (which ends its connections)."""
    username = instance.username

    def drop() -> None:
        try:
            broker_acl.drop_user(username)
        except broker_acl.BrokerACLError as exc:
            log.error("could not delete the broker user %s: %s; `manage.py sync_broker_users` will", username, exc)

    transaction.on_commit(drop)
