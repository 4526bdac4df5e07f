"""What the inventory pages share: finding the user's cluster, and running an action from a form."""

from typing import Any

from django.contrib import messages
from django.contrib.auth.mixins import LoginRequiredMixin
from django.core.exceptions import ObjectDoesNotExist, ValidationError
from django.http import Http404, HttpRequest, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.utils.functional import cached_property
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.generic import TemplateView

from clusters import selectors
from clusters.models import Cluster
from teams import policy


def safe_next(request, default: str) -> str:
    """The page to go back to: `next` from the form or query when it is on this site, else `default`."""
    target = request.POST.get("next") or request.GET.get("next")
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return default


class ClusterMixin(LoginRequiredMixin):
    """Pages under /clusters/<slug>/: the cluster, if the user's teams have it (404 otherwise)."""

    # Set by the View this mixin is combined with.
    request: HttpRequest
    kwargs: Any

    @cached_property
    def cluster(self) -> Cluster:
        queryset = selectors.visible_clusters(self.request.user).select_related("team")
        return get_object_or_404(queryset, slug=self.kwargs["slug"])

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["cluster"] = self.cluster
        return context


class ActionFormView(TemplateView):
    """A form page whose POST calls an action.

    Subclasses name the object the policy is asked about (`policy_object`, `policy_action`), build the form
    (`make_form`) and call the action (`run`). A user whose role does not allow the change gets 403 on GET
    already, with the policy's reason; the action's validation errors go back next to their fields, with
    status 400 and everything the user typed kept.
    """

    http_method_names = ["get", "post", "head", "options"]
    policy_action = policy.CHANGE
    success_message = ""

    def policy_object(self):
        raise NotImplementedError

    def check_permission(self) -> None:
        """Raise PermissionDenied (403, with the policy's reason) or Http404 unless the user may go on."""
        policy.require(self.request.user, self.policy_action, self.policy_object())

    def make_form(self, data=None):
        raise NotImplementedError

    def run(self, form):
        """Call the action with the form's values; return the object to go to afterwards."""
        raise NotImplementedError

    def success_url(self, result) -> str:
        return result.get_absolute_url()

    def warnings(self, result) -> list[str]:
        """What the user should know about the saved object (shown after the success message)."""
        return []

    def dispatch(self, request, *args, **kwargs):
        return checked_dispatch(self, super(), request, *args, **kwargs)

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context.setdefault("form", self.make_form())
        context["next"] = self.request.POST.get("next") or self.request.GET.get("next", "")
        return context

    def post(self, request, *args, **kwargs):
        form = self.make_form(request.POST)
        if form.is_valid():
            try:
                result = self.run(form)
            except ValidationError as exc:
                form.add_action_errors(exc)
            else:
                if self.success_message:
                    messages.success(request, self.success_message.format(obj=result))
                for warning in self.warnings(result):
                    messages.warning(request, warning)
                return HttpResponseRedirect(safe_next(request, self.success_url(result)))
        elif getattr(form, "check_model_on_parse_errors", False):
            form.add_model_errors()  # every bad field at once, as the API reports them
        return self.render_to_response(self.get_context_data(form=form), status=400)


class ConfirmView(TemplateView):
    """A confirmation page for a destructive action; POST does it and goes on."""

    http_method_names = ["get", "post", "head", "options"]
    policy_action = policy.DELETE

    def policy_object(self):
        raise NotImplementedError

    def check_permission(self) -> None:
        """Raise PermissionDenied (403, with the policy's reason) or Http404 unless the user may go on."""
        policy.require(self.request.user, self.policy_action, self.policy_object())

    def run(self) -> str:
        """Do it; return the URL to go to and put a message for the user."""
        raise NotImplementedError

    def cancel_url(self) -> str:
        raise NotImplementedError

    def dispatch(self, request, *args, **kwargs):
        return checked_dispatch(self, super(), request, *args, **kwargs)

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["cancel_url"] = safe_next(self.request, self.cancel_url())
        context["next"] = self.request.POST.get("next") or self.request.GET.get("next", "")
        return context

    def post(self, request, *args, **kwargs):
        return HttpResponseRedirect(self.run())


def checked_dispatch(view, parent, request, *args, **kwargs):
    """Refuse an unsupported method (405) first, then ask the policy (404 / 403), then handle the request."""
    if request.method.lower() not in view.http_method_names or not hasattr(view, request.method.lower()):
        return view.http_method_not_allowed(request, *args, **kwargs)
    if request.user.is_authenticated:
        view.check_permission()
    try:
        return parent.dispatch(request, *args, **kwargs)
    except ObjectDoesNotExist as exc:
        # Another user deleted the object between this page's lookup and the action's locked re-read.
        raise Http404("It no longer exists: it was deleted, maybe by someone else just now.") from exc


def not_found_unless(condition: bool) -> None:
    """404 when `condition` is false (an object that does not belong under this URL)."""
    if not condition:
        raise Http404
