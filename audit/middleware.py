"""Request middleware that gives audit entries their source address, user agent and request id."""

from django.conf import settings

from audit import context


class AuditContextMiddleware:
    """Set the audit context for the request and echo the request id in `X-Request-ID`.

    The source address is REMOTE_ADDR; behind a reverse proxy set LVSWEB_TRUST_X_FORWARDED_FOR=1 so the
    first address of X-Forwarded-For (which the proxy sets) is used instead.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        address = request.META.get("REMOTE_ADDR")
        if settings.AUDIT_TRUST_X_FORWARDED_FOR and request.META.get("HTTP_X_FORWARDED_FOR"):
            address = request.META["HTTP_X_FORWARDED_FOR"].split(",")[0]
        request_context = context.RequestContext(
            source_address=context.clean_address(address),
            user_agent=request.META.get("HTTP_USER_AGENT", "")[:300],
            request_id=context.clean_request_id(request.META.get("HTTP_X_REQUEST_ID")),
        )
        request.request_id = request_context.request_id
        token = context.activate(request_context)
        try:
            response = self.get_response(request)
        finally:
            context.deactivate(token)
        response["X-Request-ID"] = request_context.request_id
        return response
