"""Keeping the broker's agent users in step with the enrolled hosts (dispatch/broker_acl.py)."""

from django.conf import settings

from audit.recording import record
from dispatch import broker_acl
from dispatch.models import BrokerAccount


def sync_broker_users() -> tuple[list[str], list[str]]:
    """Re-create the Redis users of enrolled hosts that the broker lacks; delete this console's orphans.

    A Redis restarted without an ACL file has forgotten every agent's user: the stored SHA-256 of each
    password is enough to make it again, and the agents' reconnecting loops get in. Each re-created user is
    audited on its host. Returns (created, deleted) user names; nothing is done with LVSWEB_BROKER_ACL=off.
    Raises BrokerACLError when the broker cannot be managed.
    """
    if not settings.BROKER_ACL:
        return [], []
    accounts = list(BrokerAccount.objects.select_related("host").filter(host__revoked_at__isnull=True))
    created, deleted = broker_acl.sync_users(
        [(account.username, account.password_sha256, account.host.queue) for account in accounts],
        prefix=settings.BROKER_USER_PREFIX,
    )
    for account in accounts:
        if account.username in created:
            record(
                action="host.broker_user",
                obj=account.host,
                message=f"Broker user {account.username} re-created: the broker had lost it (restart?).",
            )
    return created, deleted
