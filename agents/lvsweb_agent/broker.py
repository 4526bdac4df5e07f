"""The Redis keys one agent uses on the broker, so that a per-host Redis ACL user can reach exactly these.

kombu's Redis transport keeps every delivered-but-unacknowledged message (with its full body) in one hash,
`unacked`, shared by every consumer of the database. With `task_acks_late` an agent's commands sit there
while they run, so with the default keys every host could read every other host's in-flight documents.
Each agent therefore gets its own unacked hash, index and mutex, named after its queue
(docs/operating.md, "Securing the broker"). The console builds its ACL rules from the same functions.

The agent never *declares* a queue: declaring writes kombu's binding sets (`_kombu.binding.<exchange>`),
and an agent that could write the `control` exchange's set could route other hosts' reports or the
console's own tasks into a queue it reads. The console declares both the host's queue and `control`
(at enrollment, on every command it sends, and from `sync_broker_users`); the agent only reads them.
"""

from __future__ import annotations

from typing import Any

from kombu.entity import Exchange, Queue

CONTROL_QUEUE = "control"
#: kombu's Redis transport keeps a message of priority p > 0 in "<queue>\x06\x16<p>" (PRIORITY_STEPS).
PRIORITY_SEPARATOR = "\x06\x16"
PRIORITY_STEPS = (0, 3, 6, 9)
BINDING_KEYS = ("_kombu.binding.{}", "_kombu.binding_permanent.{}")


def unacked_keys(queue: str) -> dict[str, str]:
    """kombu transport options that give the consumer of `queue` its own unacked hash, index and mutex.

    The names start with `unacked…:` so that no host's queue (always `lvsweb.host.<hostname>`) can be one of
    them, whatever the hostname.
    """
    return {
        "unacked_key": f"unacked:{queue}",
        "unacked_index_key": f"unacked_index:{queue}",
        "unacked_mutex_key": f"unacked_mutex:{queue}",
    }


def queue_keys(queue: str) -> list[str]:
    """The Redis lists that hold `queue`'s messages, one per priority step."""
    return [queue if step == 0 else f"{queue}{PRIORITY_SEPARATOR}{step}" for step in PRIORITY_STEPS]


def binding_keys(exchange: str) -> list[str]:
    """kombu's binding sets of a direct `exchange` (read when publishing to it or restoring a message)."""
    return [pattern.format(exchange) for pattern in BINDING_KEYS]


def agent_queues(queue: str) -> list[Queue]:
    """The agent's own queue and `control`, both never declared by the agent (see the module docstring).

    `control` is listed only so that reports published to it are not declared; the worker consumes `queue`
    alone (`consumed_queues`).
    """
    return [_undeclared_queue(queue), _undeclared_queue(CONTROL_QUEUE)]


def _undeclared_queue(name: str) -> Queue:
    """Queue `name` bound to the direct exchange `name` with routing key `name`, neither declared by the agent.

    kombu leaves these two constructors unannotated, hence the narrow ignores.
    """
    exchange = Exchange(name, type="direct", no_declare=True)  # type: ignore[no-untyped-call]
    return Queue(name, exchange, routing_key=name, no_declare=True)  # type: ignore[no-untyped-call]


def broker_options(queue: str) -> dict[str, Any]:
    """Celery settings for an agent consuming `queue` on a broker it shares with hosts it must not read."""
    return {
        "task_queues": agent_queues(queue),
        "task_default_queue": queue,
        "broker_transport_options": unacked_keys(queue),
    }
