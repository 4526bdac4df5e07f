"""Account pages: personal API tokens (sign-in and passwords use Django's own views)."""

from django.contrib import messages
from django.contrib.auth.mixins import LoginRequiredMixin
from django.shortcuts import get_object_or_404, redirect
from django.utils.decorators import method_decorator
from django.views.decorators.cache import never_cache
from django.views.generic import TemplateView

from accounts.actions import create_api_token, revoke_api_token
from accounts.forms import ApiTokenForm
from accounts.models import ApiToken


@method_decorator(never_cache, name="dispatch")
class ApiTokenListView(LoginRequiredMixin, TemplateView):
    """The user's tokens (name, expiry, last use, scope); POST makes a new one and shows its key once."""

    template_name = "accounts/token_list.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["tokens"] = ApiToken.objects.filter(user=self.request.user).order_by("-created_at")
        context.setdefault("form", ApiTokenForm())
        return context

    def post(self, request, *args, **kwargs):
        form = ApiTokenForm(request.POST)
        if not form.is_valid():
            return self.render_to_response(self.get_context_data(form=form), status=400)
        token, key = create_api_token(
            acting_user=request.user,
            user=request.user,
            name=form.cleaned_data["name"],
            read_only=form.cleaned_data["read_only"],
            expires_at=form.expires_at(),
        )
        # The key is rendered in this response only (never stored, never redirected through the session).
        return self.render_to_response(self.get_context_data(new_token=token, new_key=key), status=201)


class ApiTokenRevokeView(LoginRequiredMixin, TemplateView):
    """GET asks for confirmation, POST revokes one of the user's tokens."""

    template_name = "accounts/token_revoke.html"

    def get_token(self) -> ApiToken:
        # Another user's token answers 404: tokens are never shown across users.
        return get_object_or_404(ApiToken.objects.filter(user=self.request.user), pk=self.kwargs["pk"])

    def get(self, request, *args, **kwargs):
        return self.render_to_response({"token": self.get_token()})

    def post(self, request, *args, **kwargs):
        token = revoke_api_token(acting_user=request.user, token=self.get_token())
        messages.success(request, f"Token “{token.name}” is revoked; clients using it are refused from now on.")
        return redirect("token-list")
