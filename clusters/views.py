"""Console pages of the inventory (the full console comes with the web-console issue).

Every page shows only the clusters of the user's teams (the policy's `visible_clusters`): another team's
cluster answers 404, as if it did not exist.
"""

from django.contrib.auth.mixins import LoginRequiredMixin
from django.db.models import Count, Prefetch
from django.views.generic import DetailView, ListView

from clusters.models import RealServer, VirtualService
from teams import policy
from teams.choices import TeamRole


class DashboardView(LoginRequiredMixin, ListView):
    """The user's clusters with what each holds."""

    template_name = "clusters/dashboard.html"
    context_object_name = "clusters"
    paginate_by = 50

    def get_queryset(self):
        return (
            policy.visible_clusters(self.request.user)
            .select_related("team")
            .annotate(
                virtual_service_count=Count("virtual_services", distinct=True),
                real_server_count=Count("virtual_services__real_servers", distinct=True),
                host_count=Count("cluster_hosts", distinct=True),
            )
            .order_by("name")
        )

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        user = self.request.user
        roles = policy.roles_of(user).values()
        context["has_team"] = policy.is_superuser(user) or bool(roles)
        context["can_create"] = policy.is_superuser(user) or any(role.rank >= TeamRole.OPERATOR.rank for role in roles)
        return context


class ClusterDetailView(LoginRequiredMixin, DetailView):
    """One cluster: its hosts, virtual services and their real servers."""

    template_name = "clusters/cluster_detail.html"
    context_object_name = "cluster"

    def get_queryset(self):
        return (
            policy.visible_clusters(self.request.user)
            .select_related("team")
            .prefetch_related(
                "cluster_hosts__host",
                Prefetch(
                    "virtual_services",
                    queryset=VirtualService.objects.prefetch_related(
                        Prefetch("real_servers", queryset=RealServer.objects.select_related("host"))
                    ),
                ),
            )
        )

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["my_role"] = policy.role_in(self.request.user, self.object.team_id)
        return context
