"""The compiler turns the inventory into documents the agent accepts, for every host of the cluster."""

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
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


def documents_of(*clusters, serials=None):
    return compile_documents([inventory_snapshot(cluster) for cluster in clusters], serials or {})


def test_tun_cluster_compiles_to_the_lab_documents(lab):
    docs = documents_of(lab.cluster, serials={"director": 4, "rs1": 2, "rs2": 2})
    assert set(docs) == {"director", "rs1", "rs2"}
    director = docs["director"]
    assert director["revision"] == 4 and director["real_server"] is None
    assert director["director"]["vips"] == [{"address": "10.10.0.100", "prefix": 32, "interface": "eth0"}]
    assert director["director"]["drain_timeout"] == 30
    [service] = director["director"]["services"]
    assert (service["protocol"], service["address"], service["port"], service["scheduler"]) == (
        "tcp",
        "10.10.0.100",
        80,
        "rr",
    )
    assert [(rs["address"], rs["port"], rs["forward"], rs["tunnel"]["type"]) for rs in service["real_servers"]] == [
        ("10.20.0.11", 80, "tun", "ipip"),
        ("10.20.0.12", 80, "tun", "ipip"),
    ]
    assert docs["rs1"]["real_server"] == {"tun": {"vips": ["10.10.0.100"], "uplinks": ["eth0"]}, "dr": None}
    assert docs["rs1"]["director"] is None
    for doc in docs.values():
        assert validate_schema(doc) == []
        parse_document(doc)  # the agent's own semantic checks pass


def test_draining_gets_weight_zero_and_disabled_is_left_out(lab):
    lab.real_server1.state = "draining"
    lab.real_server1.save()
    lab.real_server2.state = "disabled"
    lab.real_server2.save()
    docs = documents_of(lab.cluster)
    [service] = docs["director"]["director"]["services"]
    assert [(rs["address"], rs["weight"]) for rs in service["real_servers"]] == [("10.20.0.11", 0)]
    assert docs["rs1"]["real_server"]["tun"]["vips"] == ["10.10.0.100"]
    assert docs["rs2"]["real_server"] == {"tun": None, "dr": None}  # the recipe is removed from rs2


def test_disabled_service_is_left_out_everywhere(lab):
    lab.service.enabled = False
    lab.service.save()
    docs = documents_of(lab.cluster)
    assert docs["director"]["director"]["services"] == [] and docs["director"]["director"]["vips"] == []
    assert docs["rs1"]["real_server"] == {"tun": None, "dr": None}


def test_nat_turns_on_forwarding_and_dr_gets_its_recipe(db):
    cluster = make_cluster()
    director, web = make_host(hostname="lb"), make_host(hostname="web1", uplinks="ens3")
    make_cluster_host(cluster=cluster, host=director, role=HostRole.DIRECTOR)
    make_cluster_host(cluster=cluster, host=web, role=HostRole.REAL_SERVER)
    nat = make_virtual_service(cluster=cluster, address="192.0.2.10", port=443, forward_method="nat")
    make_real_server(virtual_service=nat, address="172.16.9.9", port=8443, forward_method="nat")
    dr = make_virtual_service(cluster=cluster, address="192.0.2.11", port=80, forward_method="dr")
    make_real_server(virtual_service=dr, address="192.0.2.50", forward_method="dr", host=web)
    docs = documents_of(cluster)
    assert docs["lb"]["director"]["ip_forward"] is True
    assert docs["lb"]["director"]["vips"][0]["interface"] == "lo"
    assert docs["web1"]["real_server"] == {"tun": None, "dr": {"vips": ["192.0.2.11"], "uplinks": ["ens3"]}}
    for doc in docs.values():
        assert validate_schema(doc) == []


def test_a_director_of_two_clusters_gets_both(db):
    director = make_host(hostname="shared-lb")
    first, second = make_cluster(), make_cluster()
    for cluster, vip in ((first, "198.51.100.1"), (second, "198.51.100.2")):
        make_cluster_host(cluster=cluster, host=director, role=HostRole.DIRECTOR)
        make_real_server(virtual_service=make_virtual_service(cluster=cluster, address=vip))
    docs = documents_of(first, second)
    assert [s["address"] for s in docs["shared-lb"]["director"]["services"]] == ["198.51.100.1", "198.51.100.2"]


services = st.fixed_dictionaries(
    {
        "scheduler": st.sampled_from(["rr", "wrr", "wlc", "sh", "mh", "fo"]),
        "persistence_timeout": st.sampled_from([0, 1, 300]),
        "forward_method": st.sampled_from(["tun", "dr", "nat"]),
        "real_servers": st.lists(
            st.tuples(st.integers(0, 65535), st.sampled_from(["active", "draining", "disabled"])), max_size=4
        ),
    }
)


#: Director high availability: none, or VIP groups with any valid VRRP settings and two or three directors.
vip_groups = st.one_of(
    st.none(),
    st.fixed_dictionaries(
        {
            "directors": st.integers(2, 3),
            "sync_id": st.one_of(st.none(), st.integers(0, 255)),
            "groups": st.lists(
                st.fixed_dictionaries(
                    {
                        "advert_int": st.sampled_from([0.01, 0.5, 1.0, 3.0, 255.0]),
                        "preempt": st.booleans(),
                        "unicast": st.booleans(),
                        "auth_pass": st.sampled_from(["", "x", "8charsOK"]),
                        "track_agent": st.booleans(),
                    }
                ).map(
                    # a VRRP password exists only in VRRP version 2, whose adverts are whole seconds apart
                    lambda group: group if float(group["advert_int"]).is_integer() else {**group, "auth_pass": ""}
                ),
                min_size=1,
                max_size=3,
            ),
            "drained": st.booleans(),
        }
    ),
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(services, min_size=1, max_size=3), vip_groups)
def test_any_valid_inventory_compiles_to_documents_the_agent_accepts(django_db_blocker, specs, ha):
    from django.db import transaction

    with django_db_blocker.unblock(), transaction.atomic():
        cluster = make_cluster(sync_id=ha["sync_id"] if ha else None)
        director, rs = make_host(), make_host()
        make_cluster_host(cluster=cluster, host=director, role=HostRole.DIRECTOR, drained=bool(ha and ha["drained"]))
        make_cluster_host(cluster=cluster, host=rs, role=HostRole.REAL_SERVER)
        groups = []
        if ha:
            for _ in range(ha["directors"] - 1):
                make_cluster_host(cluster=cluster, host=make_host(), role=HostRole.DIRECTOR)
            for number, group in enumerate(ha["groups"], start=1):
                groups.append(make_vip_group(cluster=cluster, name=f"g{number}", vrid=number, **group))
        for number, spec in enumerate(specs):
            service = make_virtual_service(
                cluster=cluster,
                scheduler=spec["scheduler"],
                persistence_timeout=spec["persistence_timeout"],
                forward_method=spec["forward_method"],
                vip_group=groups[number % len(groups)] if groups else None,
            )
            for weight, state in spec["real_servers"]:
                port = 8080 if spec["forward_method"] == "nat" else service.port
                make_real_server(virtual_service=service, weight=weight, state=state, port=port, host=rs)
        docs = documents_of(cluster)
        transaction.set_rollback(True)
    for doc in docs.values():
        assert validate_schema(doc) == []
        parse_document(doc)
    if ha:
        instances = [d["director"]["ha"]["instances"] for d in docs.values() if d["director"]]
        # a group gets an instance once a service is in it (keepalived needs a VIP to move)
        filled = {number % len(ha["groups"]) for number in range(len(specs))}
        assert len(instances) == ha["directors"] and all(len(i) == len(filled) for i in instances)


def test_the_snapshot_reads_the_same_real_servers_by_service_ids_or_by_the_join(db, monkeypatch):
    """Real servers are read by their services' ids (an index scan of the cluster's), or, past SERVICE_IDS_LISTED
    services, by joining the clusters: the same snapshot either way, other clusters' real servers left out."""
    from clusters import compiler

    clusters = [make_cluster(), make_cluster()]
    for index, cluster in enumerate(clusters):
        for port in (80, 443):
            service = make_virtual_service(cluster=cluster, address=f"198.51.100.{index + 1}", port=port)
            make_real_server(virtual_service=service, address=f"10.0.{index}.1", port=port)
            make_real_server(virtual_service=service, address=f"10.0.{index}.2", port=port)
    listed = compiler.inventory_snapshots(clusters)
    monkeypatch.setattr(compiler, "SERVICE_IDS_LISTED", 1)
    assert compiler.inventory_snapshots(clusters) == listed
    addresses = [rs["address"] for s in listed[clusters[0].pk]["virtual_services"] for rs in s["real_servers"]]
    assert addresses == ["10.0.0.1", "10.0.0.2", "10.0.0.1", "10.0.0.2"]
