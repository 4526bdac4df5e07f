"""The API's OpenAPI description: drf-spectacular's, plus the error answers each operation can give.

Kept apart from lvsweb.api: drf-spectacular reads the REST framework settings on import, and those name the
renderers defined there.
"""

from drf_spectacular import openapi
from drf_spectacular.plumbing import ResolvedComponent
from rest_framework.permissions import AllowAny

#: The body of every error but a validation error: one sentence that says what went wrong.
ERROR_SCHEMA = {
    "type": "object",
    "description": "What went wrong, in one sentence.",
    "properties": {"detail": {"type": "string"}},
    "required": ["detail"],
}
#: A 400: each field with its problems (`non_field_errors` for the object as a whole), or `detail` for a body
#: that could not be read at all. Field values are lists of messages, or objects for nested data.
VALIDATION_ERROR_SCHEMA = {
    "type": "object",
    "description": "Each field named with its problems; `non_field_errors` for the whole object; `detail` when "
    "the body could not be read at all.",
    "properties": {"detail": {"type": "string"}},
    "additionalProperties": {"anyOf": [{"type": "array", "items": {}}, {"type": "object"}]},
}

#: The 400 body, for views that declare their own 400 beside it (the import).
VALIDATION_ERROR_REF = {"$ref": "#/components/schemas/ValidationError"}


class AutoSchema(openapi.AutoSchema):
    """drf-spectacular's schema, plus the error answers each operation can really give (400, 401, 403, 404, …).

    Without them a client (or schemathesis) reading /api/schema/ would meet status codes the schema never
    mentions. An operation's own declaration of a code (e.g. the import's 400) wins over these.
    """

    def error_codes(self) -> dict[str, str]:
        """The error statuses of this operation and what each means."""
        view = self.view
        writes = self.method in ("POST", "PUT", "PATCH", "DELETE")
        has_body = self.method in ("POST", "PUT", "PATCH")
        codes = {}
        query = self._get_filter_parameters() or self._get_pagination_parameters() or self.get_override_parameters()
        if writes or query:
            codes["400"] = "Invalid input, named by field."
        if not all(isinstance(permission, AllowAny) for permission in view.get_permissions()):
            codes["401"] = "Not signed in: no session, or no valid `Authorization: Token <key>`."
            codes["403"] = "Signed in, but the team policy (or a read-only token) does not allow this."
        codes["404"] = "No such object among those the user may see (or no such page)."
        if writes:
            codes["409"] = "The change conflicts with other objects or with a change made at the same time."
        if has_body:
            codes["415"] = "The body is not in one of the accepted media types."
        if view.get_throttles():
            codes["429"] = "Too many requests: wait and retry."
        return codes

    def _get_response_bodies(self, direction="response"):
        responses = super()._get_response_bodies(direction)
        for code, description in self.error_codes().items():
            if code not in responses:
                responses[code] = {"description": description, "content": self._error_content(code)}
        return responses

    def _error_content(self, code: str) -> dict:
        name, schema = ("ValidationError", VALIDATION_ERROR_SCHEMA) if code == "400" else ("Error", ERROR_SCHEMA)
        component = ResolvedComponent(name=name, type=ResolvedComponent.SCHEMA, schema=schema, object=name)
        self.registry.register_on_missing(component)
        media_types = self.map_renderers("media_type")
        if code == "404" and "application/json" not in media_types:
            # A URL that reaches no view at all gets the site's 404, which is JSON everywhere under /api/.
            media_types.append("application/json")
        content = {}
        for media_type in media_types:
            # A view that renders text (the export) renders its errors as text too.
            json_like = media_type == "application/json" or media_type.endswith("+json")
            content[media_type] = {"schema": component.ref if json_like else {"type": "string"}}
        return content
