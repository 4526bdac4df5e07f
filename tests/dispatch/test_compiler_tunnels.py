"""Real servers of every tunnel type and family get a TUN recipe saying how each VIP arrives (docs/agent-spec.md)."""

import pytest
from lvsweb_agent.document import parse_document, validate_schema

from clusters.choices import HostRole
from clusters.compiler import compile_documents, inventory_snapshot
from tests.factories import make_cluster, make_cluster_host, make_host, make_real_server, make_virtual_service

pytestmark = pytest.mark.django_db


def test_gue_gre_and_mixed_family_real_servers_get_their_tunnels(db):
    cluster = make_cluster()
    make_cluster_host(cluster=cluster, host=make_host(hostname="lb"), role=HostRole.DIRECTOR)
    web = make_host(hostname="web1", uplinks="eth0")
    make_cluster_host(cluster=cluster, host=web, role=HostRole.REAL_SERVER)
    plain = make_virtual_service(cluster=cluster, address="192.0.2.10")
    make_real_server(virtual_service=plain, address="198.51.100.7", host=web)
    gue = make_virtual_service(cluster=cluster, address="2001:db8::10", protocol="udp", port=53)
    make_real_server(
        virtual_service=gue, address="198.51.100.7", host=web, tunnel_type="gue", tunnel_port=6080, port=53
    )
    across = make_virtual_service(cluster=cluster, address="192.0.2.11")
    make_real_server(virtual_service=across, address="2001:db8:1::7", host=web)
    gre = make_virtual_service(cluster=cluster, address="2001:db8::11")
    make_real_server(virtual_service=gre, address="2001:db8:1::7", host=web, tunnel_type="gre", tunnel_checksum="csum")
    docs = compile_documents([inventory_snapshot(cluster)], {})
    recipe = docs["web1"]["real_server"]["tun"]
    assert recipe["vips"] == ["192.0.2.10", "192.0.2.11", "2001:db8::10", "2001:db8::11"]
    # The plain IPv4 IPIP VIP needs no entry; every other one says how it arrives.
    assert recipe["tunnels"] == [
        {"vip": "192.0.2.11", "type": "ipip", "address": "2001:db8:1::7", "port": None, "checksum": "none"},
        {"vip": "2001:db8::10", "type": "gue", "address": "198.51.100.7", "port": 6080, "checksum": "none"},
        {"vip": "2001:db8::11", "type": "gre", "address": "2001:db8:1::7", "port": None, "checksum": "csum"},
    ]
    assert validate_schema(docs["web1"]) == []
    state = parse_document(docs["web1"])
    assert [endpoint.device for endpoint in state.tun.tunnels] == ["tunl0", "ip6tnl0", "sit0", "lvsgre6"]
    assert docs["lb"]["director"]["vips"][2:] == [
        {"address": "2001:db8::10", "prefix": 128, "interface": "lo"},
        {"address": "2001:db8::11", "prefix": 128, "interface": "lo"},
    ]


def test_an_ipv6_ipip_vip_needs_no_tunnels_entry(db):
    cluster = make_cluster()
    web = make_host(hostname="web6")
    make_cluster_host(cluster=cluster, host=web, role=HostRole.REAL_SERVER)
    service = make_virtual_service(cluster=cluster, address="2001:db8::20")
    make_real_server(virtual_service=service, address="2001:db8:1::8", host=web)
    docs = compile_documents([inventory_snapshot(cluster)], {})
    assert docs["web6"]["real_server"]["tun"] == {"vips": ["2001:db8::20"], "uplinks": ["eth0"]}
    assert [endpoint.device for endpoint in parse_document(docs["web6"]).tun.tunnels] == ["ip6tnl0"]
