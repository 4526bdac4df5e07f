"""Content-Security-Policy: the browser runs only the console's own script files, never inline script.

Django 5.2 has no CSP of its own, and the policy is one header, so a small middleware sets it on every answer
that does not carry its own. The console's pages hold no inline script, event handler or style attribute
(static/js has every behaviour), and htmx is told not to inject its indicator styles nor to evaluate code
(the `htmx-config` meta tag in base.html). Should a value a user typed ever reach a page unescaped, the
browser still refuses to run it.

The API's own pages are someone else's code: Swagger UI and ReDoc (drf-spectacular-sidecar) inject <style>
elements and ReDoc searches in a blob: worker; DRF's browsable API has style attributes. Those pages get their
own, wider policy (`API_DOCS_POLICY`: inline styles, blob: workers) — still no inline script (Swagger's
start-up script is served as a file).
"""

from collections.abc import Callable
from functools import wraps

from django.http import HttpRequest, HttpResponse

HEADER = "Content-Security-Policy"

POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self' ws: wss:",
        "object-src 'none'",
        "frame-ancestors 'none'",
        "base-uri 'self'",
        "form-action 'self'",
    ]
)

API_DOCS_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data:",
        "font-src 'self' data:",
        "connect-src 'self'",
        "worker-src 'self' blob:",
        "object-src 'none'",
        "frame-ancestors 'none'",
        "base-uri 'self'",
        "form-action 'self'",
    ]
)


class ContentSecurityPolicyMiddleware:
    """Send `POLICY` with every answer that has no policy of its own (`API_DOCS_POLICY` for the browsable API)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if HEADER not in response:
            browsable = getattr(getattr(response, "accepted_renderer", None), "format", None) == "api"
            response[HEADER] = API_DOCS_POLICY if browsable else POLICY
        return response


def api_docs_policy(view: Callable) -> Callable:
    """Give a documentation view `API_DOCS_POLICY` instead of the console's."""

    @wraps(view)
    def wrapped(request, *args, **kwargs):
        response = view(request, *args, **kwargs)
        response[HEADER] = API_DOCS_POLICY
        return response

    return wrapped
