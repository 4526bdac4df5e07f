"""One Redis ACL user per enrolled host: its agent reaches its own queue and the `control` queue, nothing else.

With the console's own broker URL, one host's agent could read every other host's queue (their signed, but
readable, documents) and write into the Channels layer that feeds every browser. Each agent therefore gets
a Redis user of its own (Redis 6 or later), made at enrollment and dropped at revocation or deletion:

- read and take: its queue `lvsweb.host.<hostname>` (one list per priority step) and its own unacked hash,
  index and mutex (agents/lvsweb_agent/broker.py);
- read only: kombu's binding sets of its own exchange and of `control` (looked up to publish or restore);
- write only: the `control` list (LPUSH of its signed reports);
- only the commands kombu's Redis transport uses for that (`AGENT_COMMANDS`), no pub/sub channel.

Everything else — other hosts' queues and unacked messages, the console's own `unacked` hash, the Channels
layer (`lvsweb:asgi…`), kombu's other bindings — matches none of these exact key patterns.

The password is made here, handed to the agent once in the enrollment answer, and only its SHA-256 is kept
(`BrokerAccount`): Redis accepts `#<sha256>` in place of the password, so `sync_broker_users` can re-create
a user that a Redis restart forgot without the console ever knowing the password again. Set
`LVSWEB_BROKER_ACL=off` to hand every agent `AGENT_BROKER_URL` unchanged (no isolation: a Redis older than
6, or a test box). docs/operating.md, "Securing the broker".
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from collections.abc import Iterable
from urllib.parse import quote, urlsplit, urlunsplit

import redis
from django.conf import settings
from kombu import Connection, Exchange, Queue
from lvsweb_agent.broker import CONTROL_QUEUE, binding_keys, queue_keys, unacked_keys

log = logging.getLogger(__name__)

#: What kombu's Redis transport sends to consume one queue with late acks and to publish to another,
#: found by running the real agent worker under a user allowed nothing else (tests/dispatch/test_broker_acl.py).
AGENT_COMMANDS = (
    # connecting: redis-py's handshake, kombu's health checks
    "auth",
    "hello",
    "ping",
    "select",
    # consuming: blocking pop, the unacked hash/index, the restore mutex, transactions around them
    "brpop",
    "rpop",
    "lpush",
    "rpush",
    "llen",
    "hset",
    "hget",
    "hdel",
    "zadd",
    "zrem",
    "zrange",
    "set",
    "get",
    "del",
    "watch",
    "unwatch",
    "multi",
    "exec",
    "discard",
    # releasing that mutex: redis-py's Lock runs a Lua script (whose own GET/DEL are checked like any command)
    "evalsha",
    "script|load",
    # publishing: the exchange's binding set
    "smembers",
)


class BrokerACLError(RuntimeError):
    """The broker cannot give an agent its own user; the message says why and what to change."""


def hash_password(password: str) -> str:
    """The SHA-256 (hex) of `password`, as Redis ACL takes it after `#`."""
    return hashlib.sha256(password.encode()).hexdigest()


def new_password() -> str:
    """A fresh random broker password (256 bits, URL-safe)."""
    return secrets.token_hex(32)


def username_for(hostname: str) -> str:
    """The Redis user of `hostname`'s agent (LVSWEB_BROKER_USER_PREFIX + hostname)."""
    return f"{settings.BROKER_USER_PREFIX}{hostname}"


def _glob_escape(key: str) -> str:
    # ACL key patterns are globs; a hostname must never widen them.
    return "".join("\\" + char if char in "*?[]\\" else char for char in key)


def acl_rules(*, password_sha256: str, queue: str) -> list[str]:
    """The `ACL SETUSER` rules of the agent that consumes `queue` (everything it had before is reset)."""
    own = [*queue_keys(queue), *unacked_keys(queue).values()]
    readable = [binding_keys(queue)[0], binding_keys(CONTROL_QUEUE)[0]]
    return [
        "reset",
        "on",
        f"#{password_sha256}",
        "resetchannels",
        "-@all",
        *(f"+{command}" for command in AGENT_COMMANDS),
        *(f"~{_glob_escape(key)}" for key in own),
        *(f"%R~{_glob_escape(key)}" for key in readable),
        f"%W~{_glob_escape(CONTROL_QUEUE)}",
    ]


def agent_broker_url(username: str, password: str) -> str:
    """AGENT_BROKER_URL with the agent's own user and password in place of any credentials it holds."""
    parts = urlsplit(settings.AGENT_BROKER_URL)
    host = parts.netloc.rpartition("@")[2]
    netloc = f"{quote(username, safe='')}:{quote(password, safe='')}@{host}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def _admin() -> redis.Redis:
    return redis.Redis.from_url(settings.BROKER_ADMIN_URL, socket_timeout=10, socket_connect_timeout=10)


def _explain(exc: Exception) -> BrokerACLError:
    text = str(exc)
    if isinstance(exc, redis.exceptions.NoPermissionError) or text.startswith("NOPERM"):
        return BrokerACLError(
            "the console's Redis user (LVSWEB_BROKER_ADMIN_URL, else REDIS_URL) may not manage ACL users: "
            "give it the +acl and +client commands (docs/operating.md, 'Securing the broker')"
        )
    if isinstance(exc, redis.exceptions.ResponseError) and "unknown command" in text.lower():
        return BrokerACLError(
            "the broker does not support ACL users (Redis 6 or later is needed): upgrade Redis, or set "
            "LVSWEB_BROKER_ACL=off to give every agent the shared AGENT_BROKER_URL (no isolation between hosts)"
        )
    if isinstance(exc, redis.exceptions.ConnectionError):
        return BrokerACLError(f"cannot reach the broker to manage the agent's Redis user: {text}")
    return BrokerACLError(f"the broker refused to manage the agent's Redis user: {text}")


def declare_queues(*queues: str) -> None:
    """Declare `queues` (and their direct exchanges' bindings) with the console's rights, as kombu does.

    Agents only read the binding sets (agents/lvsweb_agent/broker.py), so the console makes sure they exist.
    """
    with Connection(settings.BROKER_ADMIN_URL, connect_timeout=10) as connection:
        channel = connection.default_channel
        for name in queues:
            Queue(name, Exchange(name, type="direct"), routing_key=name)(channel).declare()


def create_user(*, username: str, password_sha256: str, queue: str, kill_sessions: bool = True) -> None:
    """Create or replace the agent's Redis user; with `kill_sessions`, connections of its old password end."""
    try:
        with _admin() as client:
            rules = acl_rules(password_sha256=password_sha256, queue=queue)
            try:
                # redis-py names itself with CLIENT SETINFO on Redis 7.2 and later; allowed there, so that a
                # refusal (which redis-py ignores) does not fill the ACL log. Older servers lack the command.
                client.execute_command("ACL", "SETUSER", username, *rules, "+client|setinfo")
            except redis.exceptions.ResponseError as exc:
                if "client|setinfo" not in str(exc).lower():
                    raise
                client.execute_command("ACL", "SETUSER", username, *rules)
            if kill_sessions:
                client.execute_command("CLIENT", "KILL", "USER", username)
        declare_queues(queue, CONTROL_QUEUE)
    except redis.exceptions.RedisError as exc:
        raise _explain(exc) from None


def drop_user(username: str) -> None:
    """Delete the agent's Redis user; Redis closes the connections it had. Absent users are fine."""
    try:
        with _admin() as client:
            client.execute_command("ACL", "DELUSER", username)
    except redis.exceptions.RedisError as exc:
        raise _explain(exc) from None


def existing_users(prefix: str) -> set[str]:
    """The Redis users whose name starts with `prefix` (those this console made, with the default prefix)."""
    try:
        with _admin() as client:
            names = client.execute_command("ACL", "USERS")
    except redis.exceptions.RedisError as exc:
        raise _explain(exc) from None
    names = [name.decode() if isinstance(name, bytes) else str(name) for name in names]
    return {name for name in names if name.startswith(prefix)}


def sync_users(accounts: Iterable[tuple[str, str, str]], *, prefix: str) -> tuple[list[str], list[str]]:
    """Make the broker's users match `accounts` (username, password_sha256, queue) of enrolled hosts.

    Missing users (a Redis restart without an ACL file forgets them) are re-created from the stored hash,
    users under `prefix` that no enrolled host owns (a revocation that could not reach Redis) are deleted.
    Returns (created, deleted) user names.
    """
    present = existing_users(prefix)
    wanted = {username: (sha, queue) for username, sha, queue in accounts}
    created = sorted(set(wanted) - present)
    deleted = sorted(present - set(wanted))
    for username in created:
        sha, queue = wanted[username]
        create_user(username=username, password_sha256=sha, queue=queue, kill_sessions=False)
    for username in deleted:
        drop_user(username)
    if wanted:
        declare_queues(CONTROL_QUEUE, *(queue for _sha, queue in wanted.values()))
    return created, deleted
