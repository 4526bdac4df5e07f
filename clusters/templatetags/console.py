"""Template tags of the console layout: the navigation's teams, sortable column headers, forms fields."""

from django import template
from django.utils.html import format_html

from teams import policy

register = template.Library()


@register.simple_tag(takes_context=True)
def nav_teams(context):
    """The teams of the signed-in user, for the navigation (read once per request)."""
    request = context.get("request")
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return []
    cached = getattr(request, "_lvsweb_nav_teams", None)
    if cached is None:
        cached = list(policy.visible_teams(user).order_by("name").only("name", "slug")[:20])
        request._lvsweb_nav_teams = cached
    return cached


@register.simple_tag(takes_context=True)
def sort_header(context, field: str, label: str, param: str = "sort"):
    """A column header that sorts by `field`; clicking the sorted column again reverses the order."""
    request = context["request"]
    current = request.GET.get(param, "")
    query = request.GET.copy()
    query.pop("page", None)
    descending = current == f"-{field}"
    ascending = current == field
    query[param] = f"-{field}" if ascending else field
    indicator = " ▲" if ascending else (" ▼" if descending else "")
    return format_html(
        '<a href="?{}" class="{}">{}<span class="sort-indicator" aria-hidden="true">{}</span></a>',
        query.urlencode(),
        "sorted" if (ascending or descending) else "",
        label,
        indicator,
    )
