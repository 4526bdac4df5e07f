"""The document an operator (or the control plane) hands the agent: what is accepted, and the exact words
used when it is not."""

from __future__ import annotations

import pytest
from lvsweb_agent.document import DocumentError, parse_document
from lvsweb_agent.model import Persistence, ServiceKey, Tunnel

from .docs import changed, director_doc, example, tun_dest, web_service


def problems(doc: dict) -> list[tuple[str, str]]:
    with pytest.raises(DocumentError) as caught:
        parse_document(doc)
    return caught.value.problems


@pytest.mark.parametrize("name", ["tun-director", "tun-real-server", "dr-real-server", "nat-director"])
def test_the_documented_examples_are_valid(name):
    assert parse_document(example(name)).host


def test_tun_director_example_parses_into_the_kernel_objects():
    desired = parse_document(example("tun-director"))
    web, marked = desired.director.services
    assert str(web.key) == "tcp 10.10.0.100:80"
    assert [d.describe() for d in web.real_servers] == ["tun ipip weight 1", "tun ipip weight 1"]
    assert marked.key == ServiceKey.for_fwmark(5)
    assert marked.persistence == Persistence(timeout=300, netmask="255.255.255.255")


def test_optional_fields_take_their_defaults():
    desired = parse_document(director_doc([web_service([tun_dest("10.20.0.11")])]))
    (service,) = desired.director.services
    assert service.flags == frozenset() and service.persistence is None and service.one_packet is False
    assert service.real_servers[0].tunnel == Tunnel("ipip", 0, "none")
    assert desired.director.ip_forward is False


def test_tun_port_mapping_is_refused_with_the_reason():
    doc = director_doc([web_service([tun_dest("10.20.0.11", port=8080)])])
    assert problems(doc) == [
        (
            "$.director.services[0].real_servers[0].port",
            "8080 differs from the service port 80: the kernel cannot map ports in tun mode",
        )
    ]


def test_nat_may_map_ports():
    doc = director_doc([web_service([{"address": "10.30.0.11", "port": 8080, "forward": "nat"}])])
    assert parse_document(doc).director.services[0].real_servers[0].port == 8080


def test_gue_needs_a_port_and_ipip_refuses_one():
    doc = director_doc(
        [
            web_service(
                [
                    tun_dest("10.20.0.11", tunnel={"type": "gue", "port": None}),
                    tun_dest("10.20.0.12", tunnel={"type": "ipip", "port": 6080}),
                ]
            )
        ]
    )
    assert problems(doc) == [
        (
            "$.director.services[0].real_servers[0].tunnel.port",
            "gue needs a tunnel port (the UDP port the real server decapsulates on)",
        ),
        ("$.director.services[0].real_servers[1].tunnel.port", "ipip has no port; use null"),
    ]


def test_scheduler_flags_only_with_their_scheduler():
    doc = director_doc([web_service([], flags=["sh-port"])])
    assert problems(doc) == [
        (
            "$.director.services[0].flags",
            "scheduler flag sh-port only works with the sh scheduler (this service uses rr)",
        )
    ]


def test_unknown_scheduler_names_the_path():
    ((path, message),) = problems(director_doc([web_service([], scheduler="fastest")]))
    assert path == "$.director.services[0].scheduler"
    assert message.startswith('"fastest" is not one of ["rr", "wrr"')


def test_duplicate_services_and_real_servers():
    doc = director_doc([web_service([tun_dest("10.20.0.11"), tun_dest("10.20.0.11", weight=2)]), web_service([])])
    assert problems(doc) == [
        (
            "$.director.services[0].real_servers[1]",
            "duplicate real server 10.20.0.11:80 (first at $.director.services[0].real_servers[0])",
        ),
        ("$.director.services[1]", "duplicate of $.director.services[0] (tcp 10.10.0.100:80)"),
    ]


def test_address_family_must_match_except_for_tunnels():
    doc = director_doc([web_service([{"address": "2001:db8::11", "port": 80, "forward": "dr"}])])
    assert problems(doc) == [
        (
            "$.director.services[0].real_servers[0].address",
            "2001:db8::11 is IPv6 but the service is IPv4 (mixed families only with forward tun)",
        )
    ]
    ok = director_doc([web_service([tun_dest("2001:db8::11")])])
    assert parse_document(ok).director.services[0].real_servers[0].address == "2001:db8::11"


def test_persistence_netmask_must_fit_the_family():
    doc = director_doc(
        [
            web_service([], persistence={"timeout": 60, "netmask": "255.0.255.0"}),
            {"fwmark": 1, "family": "ipv6", "scheduler": "rr", "persistence": {"timeout": 60, "netmask": 129}},
        ]
    )
    assert problems(doc) == [
        (
            "$.director.services[0].persistence.netmask",
            '"255.0.255.0" is not a valid IPv4 netmask (e.g. 255.255.255.0)',
        ),
        ("$.director.services[1].persistence.netmask", "129 is not a valid IPv6 prefix length (1-128)"),
    ]


def test_schema_errors_name_the_path_in_operator_words():
    doc = director_doc([web_service([tun_dest("10.20.0.300")])])
    assert problems(doc) == [
        ("$.director.services[0].real_servers[0].address", '"10.20.0.300" is not an IPv4 or IPv6 address')
    ]
    fwmark_with_port = director_doc([{"fwmark": 5, "port": 80, "scheduler": "rr"}])
    assert problems(fwmark_with_port) == [
        (
            "$.director.services[0]",
            "port is not allowed together with fwmark (a firewall-mark service has no port)",
        )
    ]


def test_unknown_fields_and_versions_are_refused():
    assert problems(changed(example("tun-real-server"), lambda d: d.update(version=2))) == [
        ("$.version", "1 was expected")
    ]
    assert problems(changed(example("tun-real-server"), lambda d: d.update(colour="red"))) == [
        ("$", "Additional properties are not allowed ('colour' was unexpected)")
    ]


def test_interface_names_are_checked():
    doc = changed(example("tun-real-server"), lambda d: d["real_server"]["tun"].update(uplinks=["eth0; reboot"]))
    assert problems(doc) == [
        (
            "$.real_server.tun.uplinks[0]",
            "\"eth0; reboot\" is not a valid interface name (1-15 characters, no spaces or '/')",
        )
    ]


def test_messages_are_in_json_s_words_and_one_per_problem():
    doc = changed(example("tun-real-server"), lambda d: d.update(revision=True))
    assert problems(doc) == [("$.revision", "true is not of type 'integer'")]
    doc = changed(example("tun-real-server"), lambda d: d.update(revision="80"))
    assert problems(doc) == [("$.revision", "\"80\" is not of type 'integer'")]
    # An IPv6 address in an IPv4 list (the DR recipe's) is one problem: not also "is not a plain IP address".
    doc = changed(example("dr-real-server"), lambda d: d["real_server"]["dr"].update(vips=["2001:db8::1"]))
    assert problems(doc) == [("$.real_server.dr.vips[0]", '"2001:db8::1" is not an IPv4 address')]
