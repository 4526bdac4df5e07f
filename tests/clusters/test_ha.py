"""Director high availability in the inventory: VIP groups' rules, each refusal on its field, and the actions."""

import pytest
from django.core.exceptions import ValidationError

from audit.models import AuditEntry
from clusters import actions
from clusters.choices import HostRole
from clusters.models import ClusterHost, VipGroup
from tests.factories import (
    make_cluster,
    make_cluster_host,
    make_host,
    make_user,
    make_vip_group,
    make_virtual_service,
)

pytestmark = pytest.mark.django_db


def errors_of(excinfo) -> dict:
    return excinfo.value.message_dict


def test_vrid_and_name_are_unique_in_a_cluster():
    cluster = make_cluster()
    make_vip_group(cluster=cluster, name="web", vrid=51)
    with pytest.raises(ValidationError) as excinfo:
        make_vip_group(cluster=cluster, name="web", vrid=52)
    assert "name" in errors_of(excinfo)
    with pytest.raises(ValidationError) as excinfo:
        make_vip_group(cluster=cluster, name="api", vrid=51)
    assert "VRID 51" in errors_of(excinfo)["vrid"][0]


def test_vrid_is_unique_on_a_shared_directors_segment():
    shared = make_host(hostname="lb1", uplinks="eth0")
    first, second = make_cluster(slug="shop"), make_cluster(slug="mail")
    make_cluster_host(cluster=first, host=shared)
    make_cluster_host(cluster=second, host=shared)
    make_vip_group(cluster=first, name="web", vrid=51)
    with pytest.raises(ValidationError) as excinfo:
        make_vip_group(cluster=second, name="smtp", vrid=51)
    [message] = errors_of(excinfo)["vrid"]
    assert "VIP group “web”" in message and "lb1 (eth0)" in message
    make_vip_group(cluster=second, name="smtp", vrid=52)


def test_a_director_joining_brings_no_vrid_clash():
    lb = make_host(hostname="lb2")
    first, second = make_cluster(), make_cluster()
    make_cluster_host(cluster=first, host=lb)
    make_vip_group(cluster=first, vrid=7)
    make_vip_group(cluster=second, vrid=7)
    role = ClusterHost(cluster=second, host=lb, role=HostRole.DIRECTOR)
    with pytest.raises(ValidationError) as excinfo:
        role.full_clean()
    assert "VRID 7" in errors_of(excinfo)["host"][0]


def test_field_ranges_and_weak_password_rules():
    cluster = make_cluster()
    for fields, field in (
        ({"vrid": 0}, "vrid"),
        ({"vrid": 256}, "vrid"),
        ({"advert_int": 0}, "advert_int"),
        ({"preempt_delay": 1001}, "preempt_delay"),
        ({"auth_pass": "has space"}, "auth_pass"),
        ({"name": "no spaces"}, "name"),
        ({"preempt": False, "preempt_delay": 5}, "preempt_delay"),
    ):
        with pytest.raises(ValidationError) as excinfo:
            make_vip_group(cluster=cluster, **fields)
        assert field in errors_of(excinfo), fields


def test_long_names_on_shared_directors_are_refused():
    lb = make_host()
    first = make_cluster(slug="a-rather-long-cluster-slug")
    make_cluster_host(cluster=first, host=lb)
    make_cluster_host(cluster=make_cluster(), host=lb)
    with pytest.raises(ValidationError) as excinfo:
        make_vip_group(cluster=first, name="frontend-web")
    assert "32 characters" in errors_of(excinfo)["name"][0]


def test_unicast_needs_one_ip_version():
    cluster = make_cluster()
    make_cluster_host(cluster=cluster, host=make_host(management_address="192.0.2.1"))
    make_cluster_host(cluster=cluster, host=make_host(management_address="2001:db8::1"))
    with pytest.raises(ValidationError) as excinfo:
        make_vip_group(cluster=cluster, unicast=True)
    assert "unicast" in errors_of(excinfo)


def test_a_service_joins_only_its_own_clusters_group_and_fwmark_has_no_vip():
    group = make_vip_group()
    with pytest.raises(ValidationError) as excinfo:
        make_virtual_service(cluster=make_cluster(), vip_group=group)
    assert "another cluster" in errors_of(excinfo)["vip_group"][0]
    with pytest.raises(ValidationError) as excinfo:
        make_virtual_service(
            cluster=group.cluster, protocol="fwmark", address=None, port=None, fwmark=3, vip_group=group
        )
    assert "firewall-mark" in errors_of(excinfo)["vip_group"][0]


def test_sync_id_is_one_per_shared_director():
    lb = make_host()
    first, second = make_cluster(sync_id=7), make_cluster()
    make_cluster_host(cluster=first, host=lb)
    make_cluster_host(cluster=second, host=lb)
    second.sync_id = 8
    with pytest.raises(ValidationError) as excinfo:
        second.full_clean()
    assert "one sync daemon" in errors_of(excinfo)["sync_id"][0]
    second.sync_id, second.sync_mcast_group = 7, "192.0.2.9"
    with pytest.raises(ValidationError) as excinfo:
        second.full_clean()
    assert "sync_mcast_group" in errors_of(excinfo)


def test_actions_audit_and_ask_the_policy():
    cluster = make_cluster()
    owner = make_user()
    from tests.factories import make_member

    make_member(owner, team=cluster.team)
    group = actions.create_vip_group(acting_user=owner, cluster=cluster, fields={"name": "web", "vrid": 9})
    actions.update_vip_group(acting_user=owner, vip_group=group, changes={"advert_int": 0.5})
    assert AuditEntry.objects.filter(action__startswith="vip_group.").count() == 2
    make_virtual_service(cluster=cluster, vip_group=group)
    with pytest.raises(ValidationError) as excinfo:
        actions.delete_vip_group(acting_user=owner, vip_group=group)
    assert "1 virtual service" in errors_of(excinfo)["vip_group"][0]
    stranger = make_user()
    from django.core.exceptions import PermissionDenied

    with pytest.raises(PermissionDenied):
        actions.update_vip_group(acting_user=stranger, vip_group=group, changes={"vrid": 10})
    role = make_cluster_host(cluster=cluster)
    actions.mark_drained(acting_user=owner, cluster_host=role, drained=True)
    entry = AuditEntry.objects.get(action="director.drain")
    assert entry.cluster_id == cluster.pk and "drained" in entry.message
    assert VipGroup.objects.get(pk=group.pk).advert_int == 0.5
