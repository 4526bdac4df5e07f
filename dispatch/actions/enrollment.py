"""Enrollment of a host's agent, and its revocation."""

import hashlib
import secrets
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from lvsweb_agent.envelope import EnvelopeError, load_public_key

from audit.recording import record
from audit.transactions import retry_on_conflict
from clusters.choices import AgentStatus
from clusters.models import Host
from dispatch import broker_acl
from dispatch.models import BrokerAccount, EnrollmentToken
from dispatch.signing import control_public_key_text
from teams import policy


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@retry_on_conflict
@transaction.atomic
def create_enrollment_token(*, acting_user: AbstractBaseUser | None, host: Host) -> tuple[EnrollmentToken, str]:
    """A one-time token for `lvsweb-agent enroll` on `host`; the secret is returned once and stored hashed."""
    policy.require(acting_user, "enroll", host)
    # Every change to a host's enrollment locks the host row first (enroll, revoke): one order, no deadlock.
    host = Host.objects.select_for_update().get(pk=host.pk)
    secret = "lvse_" + secrets.token_urlsafe(32)
    token = EnrollmentToken.objects.create(
        host=host,
        token_hash=_hash(secret),
        created_by_name=acting_user.get_username() if acting_user else "system",
        expires_at=timezone.now() + timedelta(seconds=settings.AGENT_ENROLLMENT_TTL),
    )
    record(
        action="host.enrollment_token",
        acting_user=acting_user,
        obj=host,
        message=f"Enrollment token created, valid until {token.expires_at:%Y-%m-%d %H:%M} UTC.",
    )
    return token, secret


def grant_broker_user(host: Host) -> str:
    """Give `host`'s agent a Redis user of its own with a new password; returns the broker URL it is to use.

    Called inside the enrollment's transaction: when the broker cannot make the user (BrokerACLError), the
    enrollment does not happen. Enrolling again rotates the password and ends the old one's connections.
    """
    password = broker_acl.new_password()
    digest = broker_acl.hash_password(password)
    username = broker_acl.username_for(host.hostname)
    BrokerAccount.objects.filter(host=host).exclude(username=username).delete()  # renamed, or another prefix
    BrokerAccount.objects.update_or_create(host=host, defaults={"username": username, "password_sha256": digest})
    broker_acl.create_user(username=username, password_sha256=digest, queue=host.queue)
    return broker_acl.agent_broker_url(username, password)


@retry_on_conflict
@transaction.atomic
def enroll_host(*, token: str, public_key: str, facts: dict[str, Any] | None = None) -> dict[str, Any]:
    """Exchange a one-time token for the host's place in the console; returns the agent's configuration.

    Raises BrokerACLError (nothing changed) when the broker cannot give the agent its own Redis user.
    """
    # Host first, then its token: the order revocation locks them in (it locks the host, then marks the
    # tokens used), so that the two never wait for each other.
    host_id = EnrollmentToken.objects.filter(token_hash=_hash(token or "")).values_list("host_id", flat=True).first()
    if host_id is not None:
        Host.objects.select_for_update().filter(pk=host_id).first()
    found = EnrollmentToken.objects.select_for_update().filter(token_hash=_hash(token or "")).first()
    if found is None or found.used_at is not None or found.expires_at <= timezone.now():
        raise ValidationError(
            {"token": "This enrollment token is unknown, used or expired; create a new one in the console."}
        )
    try:
        load_public_key(public_key)
    except EnvelopeError as exc:
        raise ValidationError({"public_key": f"The agent's public key is {exc}."}) from None
    host = Host.objects.get(pk=found.host_id)  # locked above
    found.used_at = timezone.now()
    found.save(update_fields=["used_at"])
    facts = facts if isinstance(facts, dict) else {}
    host.public_key = public_key
    host.enrolled_at = timezone.now()
    host.revoked_at = None
    host.agent_status = AgentStatus.OFFLINE  # online from its first heartbeat
    host.agent_version = str(facts.get("agent_version", ""))[:50]
    host.kernel_version = str(facts.get("kernel", ""))[:100]
    host.facts = facts
    host.save()
    broker_url = grant_broker_user(host) if settings.BROKER_ACL else settings.AGENT_BROKER_URL
    message = "Agent enrolled" + (
        f", broker user {broker_acl.username_for(host.hostname)}." if settings.BROKER_ACL else "."
    )
    record(action="host.enroll", actor_host=host.hostname, obj=host, message=message)
    return {
        "host": host.hostname,
        "queue": host.queue,
        "broker_url": broker_url,
        "control_public_key": control_public_key_text(),
        "heartbeat_interval": settings.AGENT_HEARTBEAT_INTERVAL,
    }


@retry_on_conflict
@transaction.atomic
def revoke_host(*, acting_user: AbstractBaseUser | None, host: Host) -> Host:
    """Stop trusting the host's agent: its reports are refused and it gets no more commands."""
    host = Host.objects.select_for_update().get(pk=host.pk)
    policy.require(acting_user, "revoke", host)
    if host.revoked_at is not None:
        raise ValidationError({"host": f"{host} is already revoked."})
    host.revoked_at = timezone.now()
    host.public_key = ""
    host.agent_status = AgentStatus.REVOKED
    host.save(update_fields=["revoked_at", "public_key", "agent_status", "updated_at"])
    EnrollmentToken.objects.filter(host=host, used_at__isnull=True).update(used_at=timezone.now())
    # Its Redis user goes once this commits (dispatch/signals.py), which closes the agent's connections.
    BrokerAccount.objects.filter(host=host).delete()
    record(action="host.revoke", acting_user=acting_user, obj=host, message="Agent revoked.")
    return host
