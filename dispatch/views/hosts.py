"""Console pages of hosts: list, register, edit, delete, roles in clusters, detail, enrollment and revocation."""

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.mixins import LoginRequiredMixin
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import F, ProtectedError
from django.shortcuts import get_object_or_404, redirect
from django.urls import reverse
from django.utils.functional import cached_property
from django.views.generic import ListView, TemplateView, View

from clusters import actions as inventory
from clusters import selectors
from clusters.compiler import DOCUMENT_VERSION
from clusters.models import ClusterHost, Host, sync_state
from dispatch import actions
from dispatch.bundle import load_bundle
from dispatch.capabilities import document_format
from dispatch.choices import SyncState
from dispatch.enrollment_warnings import enrollment_warnings
from dispatch.forms import HOST_FIELDS, HostForm, HostRoleForm
from dispatch.manual import manual_recipe
from teams import policy
from teams.choices import TeamRole


class HostListView(LoginRequiredMixin, ListView):
    """The hosts of the user's teams (and those serving their clusters), with their agent status."""

    template_name = "hosts/host_list.html"
    context_object_name = "hosts"
    paginate_by = 50

    #: Columns the list sorts by (`?sort=name` or `?sort=-name`); the host name breaks ties.
    SORTS = {"hostname": "hostname", "team": "team__name", "heartbeat": "last_heartbeat_at", "kernel": "kernel_version"}

    def get_queryset(self):
        sort = self.request.GET.get("sort", "")
        field = self.SORTS.get(sort.lstrip("-"), "hostname")
        order = F(field).desc(nulls_last=True) if sort.startswith("-") else F(field).asc(nulls_last=True)
        return selectors.visible_hosts(self.request.user).select_related("team").order_by(order, "hostname")

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["rows"] = [(host, sync_state(host), document_format(host.facts)) for host in context["hosts"]]
        context["can_create"] = _may_register_hosts(self.request.user)
        context["live_labels"] = {"states": dict(SyncState.choices)}
        return context


class HostMixin(LoginRequiredMixin):
    """A host the user may see (404 otherwise), from the URL's pk."""

    @cached_property
    def host(self) -> Host:
        return get_object_or_404(
            selectors.visible_hosts(self.request.user).select_related("team"), pk=self.kwargs["pk"]
        )


def _may_register_hosts(user) -> bool:
    return policy.teams_where(user, TeamRole.OPERATOR).exists()


class HostCreateView(LoginRequiredMixin, TemplateView):
    """Register a host in one of the teams the user operates."""

    template_name = "hosts/host_form.html"

    def require(self) -> None:
        if not _may_register_hosts(self.request.user):
            raise PermissionDenied("Registering a host needs the operator or owner role in a team.")

    def get(self, request, *args, **kwargs):
        self.require()
        return super().get(request, *args, **kwargs)

    def get_context_data(self, **kwargs):
        kwargs.setdefault("form", HostForm(user=self.request.user))
        return super().get_context_data(**kwargs)

    def post(self, request, *args, **kwargs):
        self.require()
        form = HostForm(request.POST, user=request.user)
        if form.is_valid():
            fields = {name: form.cleaned_data[name] for name in ("team", *HOST_FIELDS)}
            try:
                host = inventory.create_host(acting_user=request.user, fields=fields)
            except ValidationError as exc:
                form.add_action_errors(exc)
            else:
                messages.success(request, f"Host {host} registered. Enroll its agent, or configure it by hand.")
                return redirect("host-enroll", pk=host.pk)
        return self.render_to_response(self.get_context_data(form=form))


class HostUpdateView(HostMixin, TemplateView):
    """Change a host's name, address, interfaces or description."""

    template_name = "hosts/host_form.html"

    def get(self, request, *args, **kwargs):
        policy.require(request.user, "edit", self.host)
        return super().get(request, *args, **kwargs)

    def get_context_data(self, **kwargs):
        kwargs.setdefault("form", HostForm(instance=self.host, user=self.request.user))
        return super().get_context_data(host=self.host, **kwargs)

    def post(self, request, *args, **kwargs):
        policy.require(request.user, "edit", self.host)
        form = HostForm(request.POST, instance=Host.objects.get(pk=self.host.pk), user=request.user)
        if form.is_valid():
            changes = {name: form.cleaned_data[name] for name in HOST_FIELDS}
            try:
                host = inventory.update_host(acting_user=request.user, host=self.host, changes=changes)
            except ValidationError as exc:
                form.add_action_errors(exc)
            else:
                messages.success(request, f"Host {host} saved.")
                return redirect("host-detail", pk=host.pk)
        return self.render_to_response(self.get_context_data(form=form))


class HostDeleteView(HostMixin, TemplateView):
    """Confirm, then delete a host that no longer has a role in any cluster."""

    template_name = "hosts/host_delete.html"

    def get(self, request, *args, **kwargs):
        policy.require(request.user, "delete", self.host)
        return super().get(request, *args, **kwargs)

    def get_context_data(self, **kwargs):
        roles = self.host.cluster_roles.select_related("cluster").order_by("cluster__name")
        return super().get_context_data(
            host=self.host, roles=list(roles), cancel_url=reverse("host-detail", args=[self.host.pk]), **kwargs
        )

    def post(self, request, *args, **kwargs):
        policy.require(request.user, "delete", self.host)
        try:
            inventory.delete_host(acting_user=request.user, host=self.host)
        except ProtectedError:
            messages.error(request, f"{self.host} still has a role in a cluster; remove it from its clusters first.")
            return redirect("host-delete", pk=self.host.pk)
        messages.success(request, f"Host {self.host} deleted.")
        return redirect("host-list")


class HostDetailView(HostMixin, TemplateView):
    """A host: its agent, facts, drift, roles in clusters and latest deployments."""

    template_name = "hosts/host_detail.html"

    def get_context_data(self, **kwargs):
        host = self.host
        user = self.request.user
        roles = [
            (role, policy.can(user, "view", role.cluster))
            for role in host.cluster_roles.select_related("cluster").order_by("cluster__name")
        ]
        deployments = (
            policy.visible_by_cluster(user, host.deployments.all())
            .select_related("cluster", "revision")
            .order_by("-id")
        )
        return super().get_context_data(
            host=host,
            state=sync_state(host),
            document_format=document_format(host.facts),
            console_format=DOCUMENT_VERSION,
            roles=roles,
            deployments=list(deployments[:20]),
            can_edit=policy.can(user, "edit", host),
            role_form=HostRoleForm(user=user),
            live_labels={"states": dict(SyncState.choices)},
            **kwargs,
        )


class HostRoleAddView(HostMixin, View):
    """Give the host a role (director or real server) in a cluster."""

    def post(self, request, *args, **kwargs):
        form = HostRoleForm(request.POST, user=request.user)
        if not form.is_valid():
            for field, errors in form.errors.items():
                messages.error(request, f"{field}: {' '.join(errors)}")
            return redirect("host-detail", pk=self.host.pk)
        cluster, role = form.cleaned_data["cluster"], form.cleaned_data["role"]
        try:
            inventory.assign_host_role(acting_user=request.user, cluster=cluster, host=self.host, role=role)
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
        else:
            messages.success(request, f"{self.host} is now a {role.replace('_', ' ')} of {cluster}. Plan and apply.")
        return redirect("host-detail", pk=self.host.pk)


class HostRoleRemoveView(HostMixin, TemplateView):
    """Confirm, then take the host out of a cluster (the host stays registered)."""

    template_name = "hosts/role_remove.html"

    @cached_property
    def role(self) -> ClusterHost:
        return get_object_or_404(
            selectors.visible_cluster_hosts(self.request.user).select_related("cluster", "host"),
            pk=self.kwargs["role"],
            host=self.host,
        )

    def get(self, request, *args, **kwargs):
        policy.require(request.user, "edit", self.role.cluster)
        return super().get(request, *args, **kwargs)

    def get_context_data(self, **kwargs):
        return super().get_context_data(
            host=self.host, cluster_role=self.role, cancel_url=reverse("host-detail", args=[self.host.pk]), **kwargs
        )

    def post(self, request, *args, **kwargs):
        inventory.remove_host_role(acting_user=request.user, cluster_host=self.role)
        messages.success(request, f"{self.host} removed from {self.role.cluster}.")
        return redirect("host-detail", pk=self.host.pk)


class HostEnrollView(HostMixin, TemplateView):
    """How to install and enroll the agent, a one-time token on request, and the recipe to configure it by hand."""

    template_name = "hosts/host_enroll.html"

    def get(self, request, *args, **kwargs):
        policy.require(request.user, "enroll", self.host)
        return super().get(request, *args, **kwargs)

    def get_context_data(self, **kwargs):
        server = self.request.build_absolute_uri("/").rstrip("/")
        return super().get_context_data(
            host=self.host,
            state=sync_state(self.host),
            recipe=manual_recipe(self.host),
            server=server,
            bundle=load_bundle(),
            download_url=self.request.build_absolute_uri(reverse("agent-download")),
            address_warnings=enrollment_warnings(server, settings.AGENT_BROKER_URL),
            token_ttl_minutes=settings.AGENT_ENROLLMENT_TTL // 60,
            **kwargs,
        )

    def post(self, request, *args, **kwargs):
        """Issue a token and show it once (the page is not cached and the token is not stored in clear)."""
        token, secret = actions.create_enrollment_token(acting_user=request.user, host=self.host)
        response = self.render_to_response(self.get_context_data(token=token, secret=secret))
        response["Cache-Control"] = "no-store"
        return response


class HostRevokeView(HostMixin, TemplateView):
    """Confirm, then stop trusting the host's agent."""

    template_name = "hosts/host_revoke.html"

    def get(self, request, *args, **kwargs):
        policy.require(request.user, "revoke", self.host)
        return super().get(request, *args, **kwargs)

    def get_context_data(self, **kwargs):
        return super().get_context_data(
            host=self.host, cancel_url=reverse("host-detail", args=[self.host.pk]), **kwargs
        )

    def post(self, request, *args, **kwargs):
        try:
            actions.revoke_host(acting_user=request.user, host=self.host)
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
        else:
            messages.success(request, f"{self.host}'s agent is revoked: its reports are refused from now on.")
        return redirect(reverse("host-detail", kwargs={"pk": self.host.pk}))
