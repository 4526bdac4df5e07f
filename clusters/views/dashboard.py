"""The dashboard (the user's clusters with their health) and the global search.

Every page shows only the clusters of the user's teams (the policy's `visible_*`): another team's objects
are not there, neither in lists nor in search results.
"""

from django.contrib.auth.mixins import LoginRequiredMixin
from django.db.models import Q
from django.views.generic import ListView, TemplateView

from clusters import selectors
from clusters.models import Host, sync_state
from dispatch.overview import health_of, total, with_last_apply
from dispatch.unapplied import all_states, real_servers_by_state, state_counts, unapplied_of
from teams import policy
from teams.choices import TeamRole

#: Results per kind of object on the search page.
SEARCH_LIMIT = 50


def can_create_clusters(user) -> bool:
    """Whether the user may create a cluster in at least one team (operator or owner somewhere)."""
    return policy.is_superuser(user) or any(
        role.rank >= TeamRole.OPERATOR.rank for role in policy.roles_of(user).values()
    )


class DashboardView(LoginRequiredMixin, ListView):
    """The user's clusters with their health at a glance: hosts, real servers and the last apply."""

    template_name = "clusters/dashboard.html"
    context_object_name = "clusters"
    paginate_by = 50

    def get_queryset(self):
        return with_last_apply(
            selectors.visible_clusters(self.request.user)
            .select_related("team")
            .annotate(virtual_service_count=selectors.cluster_counts()["virtual_service_count"])
            .order_by("name")
        )

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        user = self.request.user
        clusters = list(context["clusters"])
        # The real servers are counted once, by state, for the health counts and for telling the clusters
        # unchanged since their last apply (docs/performance.md, "Third round": one scan of 100,000 rather than two).
        by_state = real_servers_by_state(cluster.pk for cluster in clusters)
        health = health_of(clusters, state_counts(by_state))
        # At most nine queries whatever the number of clusters; clusters untouched since their last apply
        # (counts and timestamps say so) are not read in full.
        unapplied = unapplied_of(clusters, shortcut=True, real_servers=all_states(by_state))
        for cluster in clusters:
            cluster.unapplied = unapplied[cluster.pk]
        context["rows"] = [(cluster, health[cluster.pk]) for cluster in clusters]
        context["attention"] = [cluster for cluster, state in context["rows"] if state.needs_attention]
        context["totals"] = total(health.values())
        context["service_total"] = sum(cluster.virtual_service_count for cluster in clusters)
        context["has_team"] = policy.is_superuser(user) or bool(policy.roles_of(user))
        context["can_create"] = can_create_clusters(user)
        return context


class SearchView(LoginRequiredMixin, TemplateView):
    """VIPs, real servers, hosts and clusters that match what the user typed, in their teams only."""

    template_name = "clusters/search.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        user = self.request.user
        query = self.request.GET.get("q", "").strip()[:200]
        context["search_query"] = query
        if not query:
            return context
        services = selectors.visible_virtual_services(user).filter(
            Q(address__icontains=query)
            | Q(name__icontains=query)
            | Q(description__icontains=query)
            | (Q(fwmark=int(query)) if query.isdigit() and len(query) < 12 else Q(pk__in=[]))
        )
        real_servers = selectors.matching_real_servers(selectors.visible_real_servers(user), query)
        hosts = selectors.visible_hosts(user, Host.objects.all()).filter(
            Q(hostname__icontains=query) | Q(management_address__icontains=query) | Q(description__icontains=query)
        )
        clusters = selectors.visible_clusters(user).filter(Q(name__icontains=query) | Q(slug__icontains=query))
        context["services"] = list(
            services.select_related("cluster").annotate(real_server_count=selectors.real_server_count())[:SEARCH_LIMIT]
        )
        context["real_servers"] = list(real_servers.select_related("virtual_service__cluster", "host")[:SEARCH_LIMIT])
        context["hosts"] = list(hosts.select_related("team")[:SEARCH_LIMIT])
        # The same badge as the host pages (e.g. "waiting for first heartbeat" right after enrollment).
        context["host_rows"] = [(host, sync_state(host)) for host in context["hosts"]]
        context["clusters"] = list(clusters.select_related("team")[:SEARCH_LIMIT])
        context["limit"] = SEARCH_LIMIT
        context["total"] = sum(len(context[k]) for k in ("services", "real_servers", "hosts", "clusters"))
        return context
