"""Real server pages: create, edit, delete, drain / enable / disable in one click (for the next apply), and
drain / enable / disable now (sent to the directors at once)."""

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.utils.functional import cached_property
from django.views.generic import TemplateView

from clusters import actions
from clusters.choices import RealServerState
from clusters.forms import RealServerForm
from clusters.models import RealServer
from clusters.real_server_hosts import unconfigured_real_servers
from clusters.views.base import ActionFormView, ClusterMixin, ConfirmView, safe_next
from clusters.views.virtual_services import ServiceMixin, service_url
from dispatch.actions import apply_real_server_now
from dispatch.unapplied import annotate_real_servers, latest_revision
from teams import policy
from traffic.live import active_connections

#: The one-click verbs and the state each puts a real server in.
STATE_VERBS = {
    "enable": RealServerState.ACTIVE,
    "drain": RealServerState.DRAINING,
    "disable": RealServerState.DISABLED,
}


def row_response(request, cluster, real_server: RealServer) -> TemplateResponse:
    """The real server's row of the cluster page, as htmx swaps it in after a state change: its state, and
    what the next apply would still change compared with the latest revision."""
    real_server.connections = active_connections([real_server.pk]).get(real_server.pk)
    real_server.unconfigured = unconfigured_real_servers(cluster, [real_server]).get(real_server.pk)
    annotate_real_servers(latest_revision(cluster), [real_server])
    context = {
        "rs": real_server,
        "cluster": cluster,
        "can_change": policy.can(request.user, policy.CHANGE, real_server),
        "next": safe_next(request, cluster.get_absolute_url()),
        "swapped": True,
    }
    return TemplateResponse(request, "clusters/partials/real_server_row.html", context)


class RealServerMixin(ClusterMixin):
    """Pages of one real server of the cluster in the URL (404 when it is another cluster's)."""

    @cached_property
    def real_server(self) -> RealServer:
        return get_object_or_404(
            RealServer.objects.select_related("virtual_service__cluster", "host"),
            pk=self.kwargs["pk"],
            virtual_service__cluster=self.cluster,
        )

    def policy_object(self):
        return self.real_server

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context.update(real_server=self.real_server, service=self.real_server.virtual_service)
        return context


class RealServerCreateView(ServiceMixin, ActionFormView):
    """A new real server behind a virtual service."""

    template_name = "clusters/real_server_form.html"
    success_message = "Real server {obj} added. Plan and apply to send it traffic."

    def make_form(self, data=None):
        return RealServerForm(data, user=self.request.user, virtual_service=self.service)

    def run(self, form):
        return actions.create_real_server(
            acting_user=self.request.user, virtual_service=self.service, fields=form.changes()
        )

    def success_url(self, result) -> str:
        return service_url(self.service)


class RealServerEditView(RealServerMixin, ActionFormView):
    """Change a real server: weight, thresholds, forwarding, state, host."""

    template_name = "clusters/real_server_form.html"
    success_message = "Real server {obj} saved."

    def make_form(self, data=None):
        return RealServerForm(data, instance=self.real_server, user=self.request.user)

    def run(self, form):
        return actions.update_real_server(
            acting_user=self.request.user, real_server=self.real_server, changes=form.changes()
        )

    def success_url(self, result) -> str:
        return service_url(result.virtual_service)


class RealServerDeleteView(RealServerMixin, ConfirmView):
    """Confirm, then remove a real server from its virtual service."""

    template_name = "clusters/real_server_confirm_delete.html"

    def cancel_url(self) -> str:
        return service_url(self.real_server.virtual_service)

    def run(self) -> str:
        real_server = self.real_server
        service = real_server.virtual_service
        actions.delete_real_server(acting_user=self.request.user, real_server=real_server)
        messages.success(
            self.request,
            f"Real server {real_server.endpoint} removed from {service.endpoint}. Plan and apply to take it out of "
            "the directors (drain it first to let its connections finish).",
        )
        return safe_next(self.request, service_url(service))


class RealServerStateView(RealServerMixin, ConfirmView):
    """Drain, enable or disable a real server: one POST (htmx swaps the row; without JS, back to the page).

    GET shows what the change does and asks to confirm — the page disabling goes through, and the fallback
    for every verb.
    """

    template_name = "clusters/real_server_state.html"
    policy_action = "drain"

    def dispatch(self, request, *args, **kwargs):
        if kwargs["verb"] not in STATE_VERBS:
            raise Http404
        return super().dispatch(request, *args, **kwargs)

    @property
    def state(self) -> RealServerState:
        return STATE_VERBS[self.kwargs["verb"]]

    def cancel_url(self) -> str:
        return service_url(self.real_server.virtual_service)

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context.update(verb=self.kwargs["verb"], state=self.state)
        return context

    def post(self, request, *args, **kwargs):
        real_server = actions.set_real_server_state(
            acting_user=request.user, real_server=self.real_server, state=self.state
        )
        if request.headers.get("HX-Request"):
            return row_response(request, self.cluster, real_server)
        messages.success(
            request,
            f"Real server {real_server.endpoint} is now {real_server.state}. The directors follow at the next apply.",
        )
        return HttpResponseRedirect(safe_next(request, service_url(real_server.virtual_service)))


class RealServerNowView(RealServerStateView):
    """Drain, enable or disable a real server now: the change alone goes to the directors as a new revision
    (`apply_real_server_now`). One POST like the one-click verbs; GET asks to confirm (disable now links there).

    A refusal (another apply under way, never applied …) is a message on the page; for htmx a 400, on which
    the console's script submits the form again without htmx to show that page.
    """

    template_name = "clusters/real_server_now.html"
    policy_action = "apply"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        revision = latest_revision(self.cluster)
        directors = [h["hostname"] for h in revision.inventory["hosts"] if h["role"] == "director"] if revision else []
        context.update(revision=revision, directors=directors)
        return context

    def post(self, request, *args, **kwargs):
        try:
            revision = apply_real_server_now(acting_user=request.user, real_server=self.real_server, state=self.state)
        except ValidationError as exc:
            if request.headers.get("HX-Request"):
                return HttpResponse(" ".join(exc.messages), status=400, content_type="text/plain")
            messages.error(request, " ".join(exc.messages))
            return HttpResponseRedirect(safe_next(request, service_url(self.real_server.virtual_service)))
        real_server = RealServer.objects.select_related("virtual_service", "host").get(pk=self.real_server.pk)
        if request.headers.get("HX-Request"):
            return row_response(request, self.cluster, real_server)
        hosts = ", ".join(revision.deployments.filter(status="pending").values_list("host__hostname", flat=True))
        messages.success(
            request,
            f"Real server {real_server.endpoint} is now {real_server.state}: revision {revision.number} is on its way "
            f"to {hosts or 'no host'} with this change alone; other changes wait for the next apply.",
        )
        return HttpResponseRedirect(safe_next(request, service_url(real_server.virtual_service)))


class RealServerConnectionsView(RealServerMixin, TemplateView):
    """The connections cell of a real server's row: what the cluster page re-reads while it drains."""

    template_name = "clusters/partials/connections_cell.html"
    http_method_names = ["get", "head", "options"]

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        real_server = self.real_server
        real_server.connections = active_connections([real_server.pk]).get(real_server.pk)
        context["rs"] = real_server
        return context
