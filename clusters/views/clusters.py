"""Cluster pages: the list, one cluster with its services and hosts, create, edit and delete."""

from django.contrib import messages
from django.contrib.auth.mixins import LoginRequiredMixin
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db.models import Prefetch, Q
from django.urls import reverse
from django.views.generic import TemplateView

from clusters import actions, selectors
from clusters.forms import ClusterForm
from clusters.models import Cluster, RealServer, sync_state
from clusters.overlaps import endpoint_overlaps
from clusters.real_server_hosts import by_address, unconfigured_real_servers
from clusters.views.base import ActionFormView, ClusterMixin, ConfirmView
from clusters.views.dashboard import can_create_clusters
from dispatch.overview import health_of, health_sections, with_last_apply
from dispatch.unapplied import all_states, annotate_real_servers, real_servers_by_state, state_counts, unapplied_of
from teams import policy
from traffic.live import active_connections

#: Sort keys of the cluster list and the columns they sort by.
CLUSTER_SORTS = {
    "name": ("name",),
    "team": ("team__name", "name"),
    "services": ("virtual_service_count", "name"),
    "real-servers": ("real_server_count", "name"),
    "updated": ("updated_at", "name"),
}

#: Sort keys of a cluster's virtual services.
SERVICE_SORTS = {
    "vip": ("address", "port", "fwmark", "protocol"),
    "port": ("port", "address", "protocol"),
    "protocol": ("protocol", "address", "port"),
    "name": ("name", "address", "port"),
    "scheduler": ("scheduler", "address", "port"),
    "forwarding": ("forward_method", "address", "port"),
}


def sorted_by(queryset, sorts: dict, key: str, default: str):
    """`queryset` ordered by the sort `key` (“-key” reverses it); an unknown key falls back to `default`."""
    descending = key.startswith("-")
    columns = sorts.get(key.lstrip("-")) or sorts[default]
    return queryset.order_by(*[f"-{c}" if descending else c for c in columns])


class ClusterListView(LoginRequiredMixin, TemplateView):
    """Every cluster of the user's teams in one sortable, searchable table."""

    template_name = "clusters/cluster_list.html"
    paginate_by = 50

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        user = self.request.user
        query = self.request.GET.get("q", "").strip()
        clusters = selectors.visible_clusters(user).select_related("team").annotate(**selectors.cluster_counts())
        if query:
            clusters = clusters.filter(Q(name__icontains=query) | Q(slug__icontains=query))
        clusters = sorted_by(clusters, CLUSTER_SORTS, self.request.GET.get("sort", "name"), "name")
        page = Paginator(clusters, self.paginate_by).get_page(self.request.GET.get("page"))
        context.update(page_obj=page, clusters=page.object_list, query=query, can_create=can_create_clusters(user))
        return context


class ClusterDetailView(ClusterMixin, TemplateView):
    """One cluster: health, hosts with their agents, virtual services with their real servers (paginated)."""

    template_name = "clusters/cluster_detail.html"
    paginate_by = 25

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        user, cluster = self.request.user, self.cluster
        query = self.request.GET.get("q", "").strip()
        services = cluster.virtual_services.prefetch_related(
            Prefetch("real_servers", queryset=RealServer.objects.select_related("host"))
        )
        if query:
            matching = (
                Q(name__icontains=query) | Q(address__icontains=query) | Q(real_servers__address__icontains=query)
            )
            services = services.filter(pk__in=cluster.virtual_services.filter(matching).values("pk"))
        services = sorted_by(services, SERVICE_SORTS, self.request.GET.get("sort", "vip"), "vip")
        page = Paginator(services, self.paginate_by).get_page(self.request.GET.get("page"))
        overlaps = endpoint_overlaps(page.object_list, user)
        for service in page.object_list:
            service.overlaps = overlaps.get(service.pk, [])
        real_servers = [rs for service in page.object_list for rs in service.real_servers.all()]
        connections = active_connections(rs.pk for rs in real_servers)
        unconfigured = unconfigured_real_servers(cluster)
        for rs in real_servers:
            rs.connections = connections.get(rs.pk)
            rs.unconfigured = unconfigured.get(rs.pk)
        # The real servers counted once for the health counts and for telling the cluster unchanged since its apply.
        by_state = real_servers_by_state([cluster.pk])
        unapplied = unapplied_of([cluster], shortcut=True, real_servers=all_states(by_state))[cluster.pk]
        annotate_real_servers(unapplied.revision, real_servers)
        cluster_hosts = list(cluster.cluster_hosts.select_related("host").order_by("role", "host__hostname"))
        annotated = with_last_apply(Cluster.objects.filter(pk=cluster.pk)).only("pk").get()
        context.update(
            page_obj=page,
            services=page.object_list,
            query=query,
            hosts=[(ch, sync_state(ch.host)) for ch in cluster_hosts],
            health=health_of([annotated], state_counts(by_state))[cluster.pk],
            health_sections=health_sections(cluster, page.object_list),
            unconfigured=list(unconfigured.values()),
            dropped=by_address(unconfigured.values()),
            unapplied=unapplied,
            my_role=policy.role_in(user, cluster.team_id),
            can_change=policy.can(user, policy.CHANGE, cluster),
            can_delete=policy.can(user, policy.DELETE, cluster),
            next=self.request.get_full_path(),
        )
        return context


class ClusterCreateView(LoginRequiredMixin, ActionFormView):
    """A new cluster, in one of the teams where the user is an operator or owner."""

    template_name = "clusters/cluster_form.html"
    success_message = "Cluster “{obj}” created. Next: add a virtual service, and assign a director and real servers."

    def check_permission(self) -> None:
        # The action asks the policy about the team chosen in the form; here only whether there is one at all.
        if not can_create_clusters(self.request.user):
            raise PermissionDenied("You are not an operator or owner in any team, so you cannot create clusters.")

    def make_form(self, data=None):
        return ClusterForm(data, user=self.request.user)

    def run(self, form):
        return actions.create_cluster(acting_user=self.request.user, fields=form.changes())


class ClusterEditView(ClusterMixin, ActionFormView):
    """A cluster's name, slug, description and drain timeout."""

    template_name = "clusters/cluster_form.html"
    success_message = "Cluster “{obj}” saved."

    def policy_object(self):
        return self.cluster

    def make_form(self, data=None):
        return ClusterForm(data, instance=self.cluster, user=self.request.user)

    def run(self, form):
        return actions.update_cluster(acting_user=self.request.user, cluster=self.cluster, changes=form.changes())


class ClusterDeleteView(ClusterMixin, ConfirmView):
    """Confirm, then delete a cluster with its services and real servers; owners only."""

    template_name = "clusters/cluster_confirm_delete.html"

    def policy_object(self):
        return self.cluster

    def cancel_url(self) -> str:
        return self.cluster.get_absolute_url()

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        cluster = self.cluster
        context.update(
            service_count=cluster.virtual_services.count(),
            real_server_count=RealServer.objects.filter(virtual_service__cluster=cluster).count(),
            cluster_hosts=list(cluster.cluster_hosts.select_related("host")),
        )
        return context

    def run(self) -> str:
        name = str(self.cluster)
        actions.delete_cluster(acting_user=self.request.user, cluster=self.cluster)
        messages.success(
            self.request,
            f"Cluster “{name}” deleted. Its hosts keep running what they last applied until you remove lvsweb "
            "from them or give them another cluster.",
        )
        return reverse("dashboard")
