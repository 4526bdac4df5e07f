"""Read-mostly admin for the inventory: browse and delete here; create and edit in the console or API.

Deletes go through the actions layer, so they are validated and recorded in the audit history.
The whole admin is for superusers only (see lvsweb/urls.py): it lists every team's objects.
"""

from django.contrib import admin

from audit.admin import ReadOnlyAdmin
from clusters import actions
from clusters.models import (
    Cluster,
    ClusterHost,
    HealthCheck,
    HealthTransition,
    Host,
    RealServer,
    RealServerHealth,
    VirtualService,
)


class InventoryAdmin(admin.ModelAdmin):
    """Every field read-only; no add; delete through `delete_action`."""

    delete_action = None

    def get_readonly_fields(self, request, obj=None):
        return [field.name for field in self.model._meta.fields]

    def has_add_permission(self, request) -> bool:
        return False

    def delete_model(self, request, obj):
        self.delete_action(request.user, obj)

    def delete_queryset(self, request, queryset):
        for obj in queryset:
            self.delete_action(request.user, obj)


@admin.register(Cluster)
class ClusterAdmin(InventoryAdmin):
    """Clusters."""

    list_display = ["name", "slug", "team", "created_at"]
    list_filter = ["team"]
    search_fields = ["name", "slug", "description"]

    @staticmethod
    def delete_action(user, obj):
        actions.delete_cluster(acting_user=user, cluster=obj)


@admin.register(Host)
class HostAdmin(InventoryAdmin):
    """Hosts."""

    list_display = ["hostname", "team", "management_address", "agent_status", "last_heartbeat_at"]
    list_filter = ["agent_status", "team"]
    search_fields = ["hostname", "management_address"]

    @staticmethod
    def delete_action(user, obj):
        actions.delete_host(acting_user=user, host=obj)


@admin.register(ClusterHost)
class ClusterHostAdmin(InventoryAdmin):
    """Roles of hosts in clusters."""

    list_display = ["cluster", "host", "role"]
    list_filter = ["role", "cluster"]
    list_select_related = ["cluster", "host"]

    @staticmethod
    def delete_action(user, obj):
        actions.remove_host_role(acting_user=user, cluster_host=obj)


@admin.register(VirtualService)
class VirtualServiceAdmin(InventoryAdmin):
    """Virtual services."""

    list_display = ["endpoint", "cluster", "scheduler", "forward_method", "enabled"]
    list_filter = ["protocol", "scheduler", "forward_method", "enabled", "cluster"]
    list_select_related = ["cluster"]
    search_fields = ["address", "name", "description"]

    @staticmethod
    def delete_action(user, obj):
        actions.delete_virtual_service(acting_user=user, virtual_service=obj)


@admin.register(RealServer)
class RealServerAdmin(InventoryAdmin):
    """Real servers."""

    list_display = ["endpoint", "virtual_service", "weight", "forward_method", "state"]
    list_filter = ["forward_method", "state", "tunnel_type"]
    list_select_related = ["virtual_service"]
    search_fields = ["address", "description"]

    @staticmethod
    def delete_action(user, obj):
        actions.delete_real_server(acting_user=user, real_server=obj)


@admin.register(HealthCheck)
class HealthCheckAdmin(InventoryAdmin):
    """Health checks of services and real servers' overrides."""

    list_display = ["__str__", "cluster", "check_type", "interval", "rise", "fall", "on_failure", "tunnel_path"]
    list_filter = ["check_type", "on_failure"]

    @staticmethod
    def delete_action(user, obj):
        actions.delete_health_check(acting_user=user, health_check=obj)


@admin.register(RealServerHealth, HealthTransition)
class HealthReportAdmin(ReadOnlyAdmin):
    """What directors' agents reported (written by the report handler alone)."""
