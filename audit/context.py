"""Where a change comes from (source address, user agent, request id), for the entries it produces.

The middleware sets it per request; code outside a request (shell, management commands, Celery tasks)
runs with an empty context, and its entries say so by their actor ("system") rather than being skipped.
"""

import contextvars
import ipaddress
import uuid
from dataclasses import dataclass


@dataclass(frozen=True)
class RequestContext:
    """The request facts recorded with every entry written while handling it."""

    source_address: str | None = None
    user_agent: str = ""
    request_id: str = ""


_EMPTY = RequestContext()
_current: contextvars.ContextVar[RequestContext | None] = contextvars.ContextVar("audit_request", default=None)


def current() -> RequestContext:
    """The context of the request being handled, or an empty one."""
    return _current.get() or _EMPTY


def activate(context: RequestContext) -> contextvars.Token:
    """Make `context` current until `deactivate(token)`."""
    return _current.set(context)


def deactivate(token: contextvars.Token) -> None:
    """Restore the context that was current before `activate`."""
    _current.reset(token)


def clean_address(value: str | None) -> str | None:
    """A normalised IP address, or None for anything that is not one."""
    try:
        return str(ipaddress.ip_address((value or "").strip()))
    except ValueError:
        return None


def clean_request_id(value: str | None) -> str:
    """The client's X-Request-ID when it looks sane, else a new random one."""
    value = (value or "").strip()
    if value and len(value) <= 64 and all(ch.isalnum() or ch in "-_.:" for ch in value):
        return value
    return uuid.uuid4().hex
