"""REST framework plumbing shared by every app's API: rendering, pagination and error mapping."""

from django.core.exceptions import NON_FIELD_ERRORS
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError
from django.db.models import ProtectedError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views import defaults
from rest_framework import renderers, status
from rest_framework.pagination import PageNumberPagination
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler


class JSONRenderer(renderers.JSONRenderer):
    """UTF-8 JSON that escapes to ASCII when the data holds a lone surrogate, which UTF-8 cannot encode.

    A JSON request may carry "\\ud800"; DRF echoes such a value in messages like “… is not a valid choice”, and
    the plain renderer then failed with UnicodeEncodeError (a 500 instead of the 400).
    """

    def render(self, data, accepted_media_type=None, renderer_context=None):
        try:
            return super().render(data, accepted_media_type, renderer_context)
        except UnicodeEncodeError:
            return AsciiJSONRenderer().render(data, accepted_media_type, renderer_context)


class AsciiJSONRenderer(renderers.JSONRenderer):
    """JSON with every non-ASCII character escaped."""

    ensure_ascii = True


class Pagination(PageNumberPagination):
    """Page-number pagination; clients may ask for up to 1,000 rows with `?page_size=`."""

    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 1000


def validation_error_body(error: DjangoValidationError) -> dict[str, list[str]]:
    """Turn a Django ValidationError into `{field: [messages]}`; errors on no field go to `non_field_errors`."""
    if hasattr(error, "error_dict"):
        body: dict[str, list[str]] = {}
        for field, messages in error.message_dict.items():
            key = "non_field_errors" if field == NON_FIELD_ERRORS else field
            body.setdefault(key, []).extend(messages)
        return body
    return {"non_field_errors": list(error.messages)}


def exception_handler(exc, context):
    """Map the errors the actions layer raises to JSON responses that name the field and the problem."""
    if isinstance(exc, DjangoValidationError):
        return Response(validation_error_body(exc), status=status.HTTP_400_BAD_REQUEST)
    if isinstance(exc, ProtectedError):
        names = sorted({str(obj) for obj in exc.protected_objects})[:10]
        return Response(
            {"detail": "This object is still in use by: " + ", ".join(names) + ". Remove those first."},
            status=status.HTTP_409_CONFLICT,
        )
    if isinstance(exc, IntegrityError):
        return Response(
            {"detail": "The change conflicts with another object that was saved at the same time; retry."},
            status=status.HTTP_409_CONFLICT,
        )
    return drf_exception_handler(exc, context)


def page_not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    """The site's 404: JSON under /api/, where clients parse every answer, the HTML page elsewhere."""
    if request.path.startswith("/api/"):
        return JsonResponse({"detail": "Not found."}, status=404)
    return defaults.page_not_found(request, exception)
