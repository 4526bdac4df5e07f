"""The actions layer: every change to the inventory is one of these functions.

Each runs in one transaction, validates the whole object (model `clean()` rules included) before it
writes, and writes its audit entry there (records.py, audit.recording). An inventory change reaches the hosts
only when the cluster is applied (agents.actions: plan, apply, reconcile). Views, the API, the admin and
management commands call these and nothing else to change state.
"""

from clusters.actions.clusters import create_cluster, delete_cluster, transfer_cluster, update_cluster
from clusters.actions.ha import (
    create_vip_group,
    delete_vip_group,
    mark_drained,
    set_director_priority,
    update_vip_group,
)
from clusters.actions.health import delete_health_check, set_health_check
from clusters.actions.hosts import (
    assign_host_role,
    create_host,
    delete_host,
    link_real_servers,
    remove_host_role,
    update_host,
)
from clusters.actions.real_servers import (
    create_real_server,
    delete_real_server,
    set_real_server_state,
    update_real_server,
)
from clusters.actions.virtual_services import (
    create_virtual_service,
    delete_virtual_service,
    update_virtual_service,
)

__all__ = [
    "assign_host_role",
    "create_cluster",
    "create_host",
    "create_real_server",
    "create_vip_group",
    "create_virtual_service",
    "delete_cluster",
    "delete_health_check",
    "delete_host",
    "delete_real_server",
    "delete_vip_group",
    "delete_virtual_service",
    "link_real_servers",
    "mark_drained",
    "remove_host_role",
    "set_director_priority",
    "set_health_check",
    "set_real_server_state",
    "transfer_cluster",
    "update_cluster",
    "update_host",
    "update_real_server",
    "update_vip_group",
    "update_virtual_service",
]
