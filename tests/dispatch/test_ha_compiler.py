"""The compiler gives each director of a cluster with VIP groups its `director.ha`, which the agent accepts."""

import pytest
from django.core.exceptions import ValidationError
from lvsweb_agent.document import parse_document, validate_schema

from clusters.choices import HostRole
from clusters.compiler import compile_documents, inventory_snapshot
from tests.factories import (
    make_cluster,
    make_cluster_host,
    make_host,
    make_real_server,
    make_vip_group,
    make_virtual_service,
)

pytestmark = pytest.mark.django_db


def documents_of(*clusters):
    docs = compile_documents([inventory_snapshot(cluster) for cluster in clusters], {})
    for doc in docs.values():
        assert validate_schema(doc) == []
        parse_document(doc)
    return docs


@pytest.fixture
def pair(db):
    cluster = make_cluster(slug="shop", sync_id=7)
    d1 = make_host(hostname="director1", management_address="192.0.2.1", uplinks="eth0")
    d2 = make_host(hostname="director2", management_address="192.0.2.2", uplinks="ens3", vip_interface="ens3")
    make_cluster_host(cluster=cluster, host=d1, vrrp_priority=150)
    make_cluster_host(cluster=cluster, host=d2, vrrp_priority=100)
    group = make_vip_group(cluster=cluster, name="web", vrid=51, unicast=True, auth_pass="s3cret")
    grouped = make_virtual_service(cluster=cluster, address="198.51.100.10", port=80, vip_group=group)
    make_real_server(virtual_service=grouped)
    make_virtual_service(cluster=cluster, address="198.51.100.20", port=80)  # no group: on every director
    return cluster


def test_each_director_gets_its_instance_and_the_vip_moves_with_it(pair):
    docs = documents_of(pair)
    one, two = docs["director1"]["director"], docs["director2"]["director"]
    assert [vip["address"] for vip in one["vips"]] == ["198.51.100.20"]
    assert len(one["services"]) == 2  # every director holds the whole IPVS table
    [instance] = one["ha"]["instances"]
    assert instance == {
        "name": "web",
        "vrid": 51,
        "interface": "eth0",
        "priority": 150,
        "preempt": True,
        "preempt_delay": 0,
        "advert_int": 1,
        "unicast_source": "192.0.2.1",
        "unicast_peers": ["192.0.2.2"],
        "auth_pass": "s3cret",
        "vips": [{"address": "198.51.100.10", "prefix": 32, "interface": "eth0"}],
        "track_agent": True,
    }
    assert one["ha"]["router_id"] == "director1" and one["ha"]["backup_only"] is False
    assert one["ha"]["sync"] == {"syncid": 7, "interface": "eth0", "port": None, "mcast_group": None, "ttl": None}
    [other] = two["ha"]["instances"]
    assert (other["priority"], other["interface"], other["unicast_peers"]) == (100, "ens3", ["192.0.2.1"])
    assert other["vips"][0]["interface"] == "ens3"


def test_a_drained_director_goes_below_the_others_and_the_others_preempt(pair):
    group = pair.vip_groups.get()
    group.preempt = False
    group.save()
    pair.cluster_hosts.filter(host__hostname="director1").update(drained=True)
    docs = documents_of(pair)
    [one] = docs["director1"]["director"]["ha"]["instances"]
    [two] = docs["director2"]["director"]["ha"]["instances"]
    assert (one["priority"], two["priority"]) == (1, 100)
    assert one["preempt"] is two["preempt"] is True
    pair.cluster_hosts.update(drained=False)
    assert documents_of(pair)["director2"]["director"]["ha"]["instances"][0]["preempt"] is False


def test_no_groups_no_ha_section(lab):
    docs = documents_of(lab.cluster)
    assert "ha" not in docs["director"]["director"]


def test_a_shared_director_prefixes_instance_names_and_is_backup_only_when_it_serves(pair):
    other = make_cluster(slug="mail")
    director1 = pair.cluster_hosts.get(host__hostname="director1").host
    make_cluster_host(cluster=other, host=director1)
    smtp = make_vip_group(cluster=other, name="smtp", vrid=52)
    make_virtual_service(cluster=other, address="198.51.100.25", port=25, vip_group=smtp)
    third = make_cluster()
    make_cluster_host(cluster=third, host=director1, role=HostRole.REAL_SERVER)
    docs = documents_of(pair, other, third)
    names = [i["name"] for i in docs["director1"]["director"]["ha"]["instances"]]
    assert names == ["shop-web", "mail-smtp"]
    assert docs["director1"]["director"]["ha"]["backup_only"] is True
    assert [i["name"] for i in docs["director2"]["director"]["ha"]["instances"]] == ["web"]


def test_unicast_without_peers_is_multicast_for_a_lone_director(db):
    cluster = make_cluster()
    make_cluster_host(cluster=cluster, host=make_host(hostname="alone"))
    make_virtual_service(cluster=cluster, vip_group=make_vip_group(cluster=cluster, unicast=True))
    [instance] = documents_of(cluster)["alone"]["director"]["ha"]["instances"]
    assert (instance["unicast_source"], instance["unicast_peers"]) == (None, [])


def test_revisions_from_before_ha_still_compile(lab):
    snapshot = inventory_snapshot(lab.cluster)
    del snapshot["vip_groups"], snapshot["cluster"]["sync"]
    for host in snapshot["hosts"]:
        for key in ("address", "vrrp_priority", "drained"):
            del host[key]
    for service in snapshot["virtual_services"]:
        del service["vip_group"]
    docs = compile_documents([snapshot], {})
    assert docs["director"]["director"]["vips"][0]["address"] == "10.10.0.100"


def test_a_group_without_enabled_services_gives_keepalived_nothing_to_run(db):
    # keepalived needs a VIP per instance: a group nothing is in yet is left out, and with it the `ha` section
    cluster = make_cluster()
    make_cluster_host(cluster=cluster, host=make_host(hostname="alone"))
    make_vip_group(cluster=cluster)
    make_virtual_service(cluster=cluster)
    assert "ha" not in documents_of(cluster)["alone"]["director"]


def test_a_vrrp_password_needs_vrrp_version_2(db):
    cluster = make_cluster()
    with pytest.raises(ValidationError) as caught:
        make_vip_group(cluster=cluster, advert_int=0.5, auth_pass="s3cret")
    assert "whole seconds" in caught.value.message_dict["auth_pass"][0]
    with pytest.raises(ValidationError) as caught:
        make_vip_group(cluster=cluster, auth_pass="a#b")
    assert "auth_pass" in caught.value.message_dict
    group = make_vip_group(cluster=cluster, auth_pass="s3cret")
    with pytest.raises(ValidationError) as caught:
        make_virtual_service(cluster=cluster, address="2001:db8::10", vip_group=group).full_clean()
    assert "only VRRP version 2 (IPv4) carries" in caught.value.message_dict["vip_group"][0]
