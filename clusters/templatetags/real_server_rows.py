"""The links of a real server's rows on the cluster page, without a `reverse` for each.

A page of 25 services shows 250 real servers, each with up to eight links and form actions in its row and one
more in the health section: 2,200 `{% url %}` tags took about a fifth of the page's time (docs/performance.md,
"Console at scale", third round). Each route is reversed once per cluster, with a stand-in id, and the
real servers' ids are put in its place.
"""

from functools import lru_cache
from urllib.parse import quote

from django import template
from django.urls import get_script_prefix, reverse
from django.utils.html import escape
from django.utils.safestring import SafeString

register = template.Library()

#: The id reversed in place of a real server's; replaced at its last occurrence (a slug may be all digits, but
#: comes before the id in every route).
_STAND_IN = "2147483647"


@lru_cache(maxsize=512)
def _route(script_prefix: str, name: str, before: tuple[str, ...], after: tuple[str, ...]) -> tuple[str, str]:
    """(what comes before the id, what comes after) in route `name` reversed with `before`, the id, `after`,
    escaped for HTML (`script_prefix` only keys the cache: `reverse` reads it itself)."""
    path = reverse(name, args=[*before, _STAND_IN, *after])
    head, found, tail = path.rpartition(f"/{_STAND_IN}/")
    if not found:  # not a path segment of its own: no shortcut for this route
        raise ValueError(f"{name}: the id is not a path segment of {path}")
    return escape(f"{head}/"), escape(f"/{tail}")


def _url(prefix: str, name: str, pk: int, before: tuple[str, ...] = (), after: tuple[str, ...] = ()) -> SafeString:
    """Route `name` for the id `pk`, escaped for HTML (the parts once, for every real server)."""
    head, tail = _route(prefix, name, before, after)
    return SafeString(f"{head}{pk}{tail}")


class RealServerLinks:
    """Where each button and link of a real server's row goes (made when the template asks); the pages that ask
    to confirm get `?next=`, to return to the page."""

    def __init__(self, slug: str, pk: int, next_url: str) -> None:
        self.slug, self.pk, self.prefix = (slug,), pk, get_script_prefix()
        self.back = SafeString(f"?next={quote(next_url, safe='/')}")  # percent-encoded: nothing left to escape
        #: The row's HTML id (a string: an int in a template is localized first).
        self.row = SafeString(f"rs-{pk}")

    def _state(self, verb: str, now: bool = False) -> str:
        return _url(self.prefix, "real-server-now" if now else "real-server-state", self.pk, self.slug, (verb,))

    drain = property(lambda self: self._state("drain"))
    enable = property(lambda self: self._state("enable"))
    disable = property(lambda self: self._state("disable") + self.back)
    drain_now = property(lambda self: self._state("drain", now=True))
    enable_now = property(lambda self: self._state("enable", now=True))
    disable_now = property(lambda self: self._state("disable", now=True) + self.back)
    edit = property(lambda self: _url(self.prefix, "real-server-edit", self.pk, self.slug) + self.back)
    delete = property(lambda self: _url(self.prefix, "real-server-delete", self.pk, self.slug) + self.back)
    connections = property(lambda self: _url(self.prefix, "real-server-connections", self.pk, self.slug))
    history = property(lambda self: _url(self.prefix, "audit-object", self.pk, ("clusters.realserver",)))
    health = property(lambda self: _url(self.prefix, "health-real-server-edit", self.pk, self.slug))


@register.simple_tag
def real_server_links(cluster, real_server, next_url: str = "") -> RealServerLinks:
    """The links of `real_server`'s row, as `{% url %}` gives them."""
    return RealServerLinks(cluster.slug, real_server.pk, next_url)
