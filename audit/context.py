"""Where a change comes from (source address, user agent, request id), for the entries it produces.

The middleware sets it per request; code outside a request (shell, management commands, Celery tasks)
runs with an empty context, and its entries say so by their actor ("system") rather than being skipped.
"""

import contextvars
import ipaddress
import uuid
from dataclasses import dataclass

from django.conf import settings
from django.http import HttpRequest


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


def client_address(request: HttpRequest) -> str | None:
    """The address of the client: the one address every guard and record of the console uses.

    The sign-in lockout (django-axes calls this), the enrollment throttle and the audit history all ask here.
    With no proxy configured (`LVSWEB_PROXY_COUNT` 0, the default) it is the connection's REMOTE_ADDR and
    X-Forwarded-For is ignored, since any client can send one. Behind N proxies it is the N-th address from the
    right of X-Forwarded-For: each proxy appends the address it received the request from, so the addresses
    further left were written by the client and prove nothing.
    """
    remote = clean_address(request.META.get("REMOTE_ADDR"))
    proxies = settings.LVSWEB_PROXY_COUNT
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
    if proxies <= 0 or not forwarded.strip():
        return remote
    addresses = [part.strip() for part in forwarded.split(",")]
    return clean_address(addresses[-min(proxies, len(addresses))]) or remote


def clean_request_id(value: str | None) -> str:
    """The client's X-Request-ID when it looks sane, else a new random one."""
    value = (value or "").strip()
    if value and len(value) <= 64 and all(ch.isalnum() or ch in "-_.:" for ch in value):
        return value
    return uuid.uuid4().hex
