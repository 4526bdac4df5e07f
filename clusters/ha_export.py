"""The VRRP part of a cluster's keepalived.conf export: one director's vrrp_instance blocks and sync daemon.

keepalived.conf is one director's file; the export writes the VRRP part of the cluster's preferred director (the
highest priority, undrained first) as the compiler makes it for that director, and names the other directors'
priorities in a comment, so that each director's file differs only by its priority (and unicast addresses).
"""

from clusters.choices import HostRole
from clusters.compiler import compile_documents, inventory_snapshot
from clusters.interchange import keepalived_vrrp
from clusters.models import Cluster


def vrrp_export(cluster: Cluster) -> str:
    """`vrrp_instance` blocks and `lvs_sync_daemon` of the cluster's preferred director; "" without VIP groups."""
    snapshot = inventory_snapshot(cluster)
    directors = [host for host in snapshot["hosts"] if host["role"] == HostRole.DIRECTOR]
    if not snapshot["vip_groups"] or not directors:
        return ""
    directors.sort(key=lambda host: (host["drained"], -host["vrrp_priority"], host["hostname"]))
    preferred = directors[0]["hostname"]
    ha = compile_documents([snapshot], {})[preferred]["director"].get("ha") or {"instances": [], "sync": None}
    exported = {instance["name"] for instance in ha["instances"]}
    empty = [group["name"] for group in snapshot["vip_groups"] if group["name"] not in exported]
    # keepalived needs a VIP per vrrp_instance: a group no enabled service is in yet has none to move
    note = f"\n# VIP groups without an enabled service, not exported: {', '.join(empty)}." if empty else ""
    if not ha["instances"]:
        return note + "\n" if note else ""
    others = ", ".join(f"{host['hostname']} priority {host['vrrp_priority']}" for host in directors[1:])
    comment = f"# Director high availability as director {preferred} runs it"
    comment += f" (VRRP priority {directors[0]['vrrp_priority']})." + (f" The others: {others}." if others else "")
    return f"{note}\n{comment}\n" + keepalived_vrrp.render(ha["instances"], sync=ha["sync"], director=ha)
