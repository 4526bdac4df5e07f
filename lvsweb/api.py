"""REST framework plumbing shared by every app's API: rendering, pagination and error mapping."""

from django.apps import apps
from django.core.exceptions import NON_FIELD_ERRORS, ObjectDoesNotExist
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError
from django.db.models import ProtectedError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views import defaults
from rest_framework import filters, parsers, renderers, status
from rest_framework.exceptions import ParseError, ValidationError
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


#: How deeply a JSON body may nest objects and lists. The deepest real body (enrollment facts, an import
#: request) nests 3 levels; Python's parser raises RecursionError near 1,000, and deep data would recurse again
#: in validation, the database and the renderer.
MAX_JSON_DEPTH = 32


def nesting_depth_exceeds(data: object, limit: int) -> bool:
    """Whether `data` nests objects and lists more than `limit` levels deep (checked without recursion)."""
    stack = [(data, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, dict):
            children = list(value.values())
        elif isinstance(value, list):
            children = value
        else:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children)
    return False


def nul_character_path(data: object) -> str | None:
    """The dotted path of the first key or string in `data` that holds a NUL character, or None.

    PostgreSQL refuses U+0000 in text and in jsonb: stored as it is, such a value is a DataError (a 500).
    """
    stack: list[tuple[object, str]] = [(data, "")]
    while stack:
        value, path = stack.pop()
        if isinstance(value, str):
            if "\x00" in value:
                return path
        elif isinstance(value, dict):
            for key, child in value.items():
                child_path = f"{path}.{key}" if path else str(key)
                if "\x00" in str(key):
                    return child_path
                stack.append((child, child_path))
        elif isinstance(value, list):
            stack.extend((child, f"{path}.{index}" if path else str(index)) for index, child in enumerate(value))
    return None


class JSONParser(parsers.JSONParser):
    """DRF's JSON parser, refusing what no field of the API can hold: deep nesting and NUL characters.

    A body nested 2,000 levels deep made the standard parser raise RecursionError (a 500); a NUL character in a
    string reached PostgreSQL, which refuses it in text and jsonb (another 500). Both are now a 400 that says
    what and where, for every JSON body of the API at once.
    """

    def parse(self, stream, media_type=None, parser_context=None):
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ParseError(f"JSON nested too deeply: at most {MAX_JSON_DEPTH} levels of objects and lists.") from None
        if nesting_depth_exceeds(data, MAX_JSON_DEPTH):
            raise ParseError(f"JSON nested too deeply: at most {MAX_JSON_DEPTH} levels of objects and lists.")
        path = nul_character_path(data)
        if path is not None:
            field = path.split(".")[0] if path else "non_field_errors"
            where = f" (at {path})" if "." in path else ""
            raise ValidationError({field: [f"Contains a NUL character (\\u0000){where}, which cannot be stored."]})
        return data


class SearchFilter(filters.SearchFilter):
    """DRF's `?search=`, whose refusals (a NUL character) name the parameter like every other 400.

    A view with a `search_queryset(queryset, term)` method filters by each term itself (a search its indexes
    serve, which DRF's OR over `search_fields` would not); `search_fields` then only describe it in the schema.
    """

    def filter_queryset(self, request, queryset, view):
        search = getattr(view, "search_queryset", None)
        if search is None:
            return super().filter_queryset(request, queryset, view)
        for term in self.get_search_terms(request):
            queryset = search(queryset, term)
        return queryset

    def get_search_terms(self, request):
        try:
            return super().get_search_terms(request)
        except ValidationError as exc:
            raise ValidationError({self.search_param: exc.detail}) from exc


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
    if isinstance(exc, ValidationError) and isinstance(exc.detail, list):
        # A refusal not tied to a field (`raise ValidationError("…")` in a view): the same shape as a serializer's.
        exc = ValidationError({"non_field_errors": exc.detail})
    if isinstance(exc, ObjectDoesNotExist):
        # The object was found when the request began, and another client deleted it before this change was
        # saved (the action re-reads it under a row lock): to this client it no longer exists.
        return Response(
            {"detail": f"{_model_name(exc)} no longer exists: it was deleted, maybe by someone else just now."},
            status=status.HTTP_404_NOT_FOUND,
        )
    if isinstance(exc, IntegrityError):
        return Response(
            {"detail": "The change conflicts with another object that was saved at the same time; retry."},
            status=status.HTTP_409_CONFLICT,
        )
    return drf_exception_handler(exc, context)


def _model_name(exc: ObjectDoesNotExist) -> str:
    """“The real server” for RealServer.DoesNotExist; “The object” when the model is not known."""
    for model in apps.get_models():
        if type(exc) is model.DoesNotExist:
            return f"The {model._meta.verbose_name}"
    return "The object"


def page_not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    """The site's 404: JSON under /api/, where clients parse every answer, the HTML page elsewhere."""
    if request.path.startswith("/api/"):
        return JsonResponse({"detail": "Not found."}, status=404)
    return defaults.page_not_found(request, exception)
