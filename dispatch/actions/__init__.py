"""Dispatch actions: enrollment, revocation, plan, apply, reconcile and the handling of agent reports.

Like the inventory actions, each runs in one transaction, writes its audit entry, and sends commands and
browser events only once the transaction has committed.
"""

from dispatch.actions.broker import sync_broker_users
from dispatch.actions.deployments import apply_cluster, plan_cluster, reconcile_host
from dispatch.actions.drain import drain_director
from dispatch.actions.enrollment import create_enrollment_token, enroll_host, revoke_host
from dispatch.actions.now import apply_real_server_now
from dispatch.actions.reports import expire_deployments, handle_report, mark_offline_hosts
from dispatch.actions.rollback import rollback_to_revision

__all__ = [
    "apply_cluster",
    "apply_real_server_now",
    "create_enrollment_token",
    "drain_director",
    "enroll_host",
    "expire_deployments",
    "handle_report",
    "mark_offline_hosts",
    "plan_cluster",
    "reconcile_host",
    "revoke_host",
    "rollback_to_revision",
    "sync_broker_users",
]
