"""Request middleware that gives audit entries their source address, user agent and request id."""

from audit import context


class AuditContextMiddleware:
    """Set the audit context for the request and echo the request id in `X-Request-ID`.

    The source address is `context.client_address` (REMOTE_ADDR, or behind proxies the address they forward).
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request_context = context.RequestContext(
            source_address=context.client_address(request),
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
