"""kombu's Redis transport and Celery's worker consumer with the screen of agents/lvsweb_agent/screen.py.

Kept apart from the rules because importing kombu's Redis transport and Celery's worker takes seconds, which
the console's settings (they only name these classes) should not pay in every process.
"""

from __future__ import annotations

from collections.abc import Callable
from queue import Empty
from typing import Any, cast

from celery.worker.consumer import Consumer as CeleryConsumer
from kombu.transport import redis as kombu_redis
from kombu.utils.imports import symbol_by_name as kombu_symbol_by_name
from kombu.utils.objects import cached_property

from lvsweb_agent.screen import (
    Dropped,
    bytes_to_str,
    dropped,
    log,
    max_message_bytes_from_environment,
    screen_message,
    screen_raw,
)

#: kombu's `symbol_by_name` ("module:attribute" to the object), typed at the boundary: kombu leaves it unannotated.
symbol_by_name = cast(Callable[[str], Any], kombu_symbol_by_name)

# kombu's Redis channel methods called below are not annotated either (kombu is only partly typed): each such
# call carries a narrow `no-untyped-call` ignore.


class Channel(kombu_redis.Channel):
    """kombu's Redis channel, screening every popped message before delivery (module docstring)."""

    #: Transport options this channel reads, beyond kombu's own.
    # kombu types this as its own fixed tuple; a longer one is what the option lookup expects.
    from_transport_options = (  # type: ignore[assignment]
        *kombu_redis.Channel.from_transport_options,
        "max_message_bytes",
        "on_drop",
    )
    max_message_bytes: int | None = None
    on_drop: Callable[[str, str], None] | str | None = None

    @cached_property
    def _max_bytes(self) -> int:
        return int(self.max_message_bytes or max_message_bytes_from_environment())

    @cached_property
    def _drop_hook(self) -> Callable[[str, str], None] | None:
        hook = self.on_drop
        return symbol_by_name(hook) if isinstance(hook, str) else hook

    def _drop(self, queue: str, error: Dropped, item: Any) -> None:
        dropped(queue, error, item, self._drop_hook)

    # Mirrors kombu 5.7.0's Channel._brpop_read (pinned in the locks); the one change: the popped item is
    # screened before it is delivered, and a dropped one ends the read like an empty poll.
    def _brpop_read(self, **options: Any) -> bool:
        try:
            try:
                dest__item = self.client.parse_response(self.client.connection, "BRPOP", **options)
            except self.connection_errors:
                self.client.connection.disconnect()
                raise
            if not dest__item:
                raise Empty()
            dest, item = dest__item
            dest = bytes_to_str(dest).rsplit(self.sep, 1)[0]
            self._queue_cycle.rotate(dest)
            try:
                message = screen_raw(item, self._max_bytes)
            except Dropped as error:
                self._drop(dest, error, item)
                raise Empty() from None
            self.connection._deliver(message, dest)
            return True
        finally:
            self._in_poll = None  # type: ignore[assignment]  # as kombu's own does (typed bool there)
            self._flush_brpop_reauth()  # type: ignore[no-untyped-call]  # kombu's, unannotated

    def _get(self, queue: str, timeout: float | None = None) -> dict[str, Any]:
        with self.conn_or_acquire() as client:
            for pri in self.priority_steps:
                item = client.rpop(self._q_for_pri(queue, pri))  # type: ignore[no-untyped-call]  # kombu's
                if item:
                    self._maybe_update_queues_expire(client, queue)  # type: ignore[no-untyped-call]  # kombu's
                    try:
                        return screen_raw(item, self._max_bytes)
                    except Dropped as error:
                        self._drop(queue, error, item)
                        raise Empty() from None
            self._maybe_update_queues_expire(client, queue)  # type: ignore[no-untyped-call]  # kombu's
            raise Empty()

    def _deliver_fanout_message(self, message: Any, exchange: str) -> Any:
        # Fanout (broadcast/event) messages arrive through PUBLISH, already parsed by kombu.
        try:
            screen_message(message)
        except Dropped as error:
            self._drop(exchange, error, message)
            return False
        return super()._deliver_fanout_message(message, exchange)  # type: ignore[no-untyped-call]  # kombu's


class SentinelChannel(Channel, kombu_redis.SentinelChannel):
    """kombu's Redis Sentinel channel with the screen (the methods above come first, then Sentinel's own)."""

    from_transport_options = tuple(  # type: ignore[assignment]  # see Channel
        dict.fromkeys(kombu_redis.SentinelChannel.from_transport_options + Channel.from_transport_options)
    )


class Transport(kombu_redis.Transport):
    """kombu's Redis transport (redis://, rediss://, socket://) whose channels screen what they pop."""

    Channel = Channel


class SentinelTransport(kombu_redis.SentinelTransport):
    """kombu's Redis Sentinel transport (sentinel://) whose channels screen what they pop."""

    Channel = SentinelChannel


class Consumer(CeleryConsumer):  # type: ignore[misc]  # Celery ships no hints: its Consumer is Any
    """Celery's worker consumer (`worker_consumer`), whose task handler drops a message it fails on.

    A message can pass the transport's screen and still carry headers Celery's strategy trips over: a
    `timelimit` of one number raised ValueError out of the handler and stopped the worker. Such a message
    is rejected (dropped) and counted as `bad_task`; broker connection errors still go to Celery, which
    reconnects.
    """

    def create_task_handler(self, *args: Any, **kwargs: Any) -> Callable[[Any], Any]:
        """Celery's handler, wrapped: an exception from one message drops that message, not the worker."""
        handler = super().create_task_handler(*args, **kwargs)
        options = self.app.conf.broker_transport_options or {}
        hook = options.get("on_drop")
        hook = symbol_by_name(hook) if isinstance(hook, str) else hook
        broker_errors = tuple(self.connection_errors) + tuple(self.channel_errors)

        def on_task_received(message: Any) -> Any:
            try:
                return handler(message)
            except broker_errors:
                raise
            except Exception as exc:
                queue = (message.delivery_info or {}).get("routing_key", "?")
                detail = f"Celery could not take the task ({type(exc).__name__}: {exc})"
                dropped(queue, Dropped("bad_task", detail), message.headers, hook)
                if not message.acknowledged:
                    message.reject_log_error(log, self.connection_errors)
                return None

        return on_task_received
