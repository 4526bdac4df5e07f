"""The site's answer to an error no view handled: a busy database is a 503 with advice, not a 500."""

import sys

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.template.loader import render_to_string
from django.views import defaults

from audit.transactions import is_busy

BUSY_MESSAGE = "The console's database is busy with other changes; nothing was changed. Try again in a moment."
SQLITE_ADVICE = (
    "This console runs on SQLite, which lets one change through at a time: with several people or many "
    "agents, switch to PostgreSQL (DATABASE_URL, see README.md)."
)


def server_error(request: HttpRequest) -> HttpResponse:
    """handler500: 503 + Retry-After when other writers kept the database busy, else the plain 500.

    Django calls it for any exception that left a view or a middleware (a session saved on a locked SQLite
    database too), with the exception still being handled. A busy transaction was rolled back whole, so the
    client may simply send it again. Under /api/ the answer is JSON, as every API answer is.
    """
    exception = sys.exc_info()[1]
    api = request.path.startswith("/api/")
    if exception is None or not is_busy(exception):
        if api:
            return JsonResponse({"detail": "Server error: the console's log has the details."}, status=500)
        return defaults.server_error(request)
    message = BUSY_MESSAGE
    if settings.DATABASES["default"]["ENGINE"].endswith("sqlite3"):
        message += " " + SQLITE_ADVICE
    if api:
        response: HttpResponse = JsonResponse({"detail": message}, status=503)
    else:
        response = HttpResponse(render_to_string("503.html", {"message": message}), status=503)
    response["Retry-After"] = "2"
    return response
