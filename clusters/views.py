"""Console pages of the inventory (the full console comes with the web-console issue)."""

from django.contrib.auth.mixins import LoginRequiredMixin, UserPassesTestMixin
from django.db.models import Count, Prefetch
from django.views.generic import DetailView, ListView

from clusters.models import Cluster, RealServer, VirtualService


class StaffRequiredMixin(LoginRequiredMixin, UserPassesTestMixin):
    """Signed-in staff only, until the teams issue brings per-team roles."""

    def test_func(self) -> bool:
        return self.request.user.is_staff


class DashboardView(StaffRequiredMixin, ListView):
    """The user's clusters with what each holds."""

    template_name = "clusters/dashboard.html"
    context_object_name = "clusters"
    paginate_by = 50

    def get_queryset(self):
        return Cluster.objects.annotate(
            virtual_service_count=Count("virtual_services", distinct=True),
            real_server_count=Count("virtual_services__real_servers", distinct=True),
            host_count=Count("cluster_hosts", distinct=True),
        ).order_by("name")


class ClusterDetailView(StaffRequiredMixin, DetailView):
    """One cluster: its hosts, virtual services and their real servers."""

    template_name = "clusters/cluster_detail.html"
    context_object_name = "cluster"

    def get_queryset(self):
        return Cluster.objects.prefetch_related(
            "cluster_hosts__host",
            Prefetch(
                "virtual_services",
                queryset=VirtualService.objects.prefetch_related(
                    Prefetch("real_servers", queryset=RealServer.objects.select_related("host"))
                ),
            ),
        )
