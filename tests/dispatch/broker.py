"""Reading what the console put on the real Redis broker, as an agent would find it."""

from django.conf import settings
from kombu import Connection


def take_commands(queue: str, *, timeout: float = 5.0, expect: int = 1) -> list[dict]:
    """Take `expect` messages from `queue` and return the envelope each carries (Celery protocol 2)."""
    envelopes = []
    with Connection(settings.CELERY_BROKER_URL) as connection:
        simple = connection.SimpleQueue(queue)
        try:
            for _ in range(expect):
                message = simple.get(block=True, timeout=timeout)
                args, _kwargs, _embed = message.decode()
                assert message.headers["task"] == "lvsweb.agent.command"
                envelopes.append(args[0])
                message.ack()
        finally:
            simple.close()
    return envelopes


def purge(*queues: str) -> None:
    """Empty the queues (tests share one Redis database)."""
    with Connection(settings.CELERY_BROKER_URL) as connection:
        for queue in queues:
            simple = connection.SimpleQueue(queue)
            simple.clear()
            simple.close()
