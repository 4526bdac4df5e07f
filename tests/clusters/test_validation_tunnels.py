"""TUN across address families is accepted (every real-server recipe exists, docs/agent-spec.md); GRE to one real
server address must agree on checksums (one device on the real server takes them all)."""

import pytest
from django.core.exceptions import ValidationError

from clusters import actions
from tests.clusters.rules import real_server
from tests.factories import make_cluster, make_host, make_real_server, make_virtual_service

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("vip", "address", "tunnel"),
    [
        ("192.0.2.10", "2001:db8::5", {}),
        ("2001:db8::10", "198.51.100.5", {}),
        ("192.0.2.10", "2001:db8::5", {"tunnel_type": "gue", "tunnel_port": 6080}),
        ("2001:db8::10", "198.51.100.5", {"tunnel_type": "gre", "tunnel_checksum": "csum"}),
    ],
    ids=["ipip-v6-behind-v4", "ipip-v4-behind-v6", "gue-v6-behind-v4", "gre-v4-behind-v6"],
)
def test_a_tun_real_server_may_be_of_the_other_family(vip, address, tunnel):
    service = make_virtual_service(address=vip)
    created = actions.create_real_server(
        acting_user=None, virtual_service=service, fields=real_server(address=address, **tunnel)
    )
    assert created.address == address


def test_gre_to_one_address_with_and_without_checksums_is_refused_with_the_reason():
    cluster = make_cluster()
    first = make_virtual_service(cluster=cluster, address="192.0.2.10")
    make_real_server(virtual_service=first, address="198.51.100.5", tunnel_type="gre", tunnel_checksum="csum")
    second = make_virtual_service(cluster=cluster, address="192.0.2.11")
    with pytest.raises(ValidationError) as exc:
        actions.create_real_server(
            acting_user=None, virtual_service=second, fields=real_server(address="198.51.100.5", tunnel_type="gre")
        )
    assert exc.value.message_dict["tunnel_checksum"] == [
        "198.51.100.5 already takes GRE with checksums (in TCP 192.0.2.10:80): one GRE device on the real server "
        "takes all GRE packets sent to this address, so every GRE tunnel to it must use the same checksum setting."
    ]
    # Another cluster's real server with the same address is another host: no conflict.
    elsewhere = make_virtual_service(address="192.0.2.12")
    actions.create_real_server(
        acting_user=None, virtual_service=elsewhere, fields=real_server(address="198.51.100.5", tunnel_type="gre")
    )


def test_an_ipv6_dr_real_server_on_an_agent_s_host_is_refused_unless_configured_by_hand():
    # The agents' DR recipe is IPv4's (VIP on lo, arp_ignore): the linked host's agent would put no IPv6 VIP on it.
    service = make_virtual_service(address="2001:db8::10")
    host = make_host(management_address="2001:db8::5")
    fields = real_server(address="2001:db8::5", forward_method="dr") | {"host": host}
    with pytest.raises(ValidationError) as exc:
        actions.create_real_server(acting_user=None, virtual_service=service, fields=fields)
    assert "for IPv4 VIPs only" in exc.value.message_dict["forward_method"][0]
    by_hand = fields | {"configured_by_hand": True}
    created = actions.create_real_server(acting_user=None, virtual_service=service, fields=by_hand)
    assert (created.forward_method, created.configured_by_hand, created.host_id) == ("dr", True, host.pk)
