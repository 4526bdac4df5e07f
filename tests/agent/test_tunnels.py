"""A TUN real server's side of every tunnel (lvsweb_agent/decap.py): what the planner does for each, with its
reason, what is persisted, what the document refuses. The lab (tests/lab/test_lab_tunnels.py) carries packets."""

from __future__ import annotations

import errno

import pytest
from lvsweb_agent.agent import Agent
from lvsweb_agent.document import DocumentError, parse_document
from lvsweb_agent.persist import render_modules_conf, render_sysctl_conf

from .simkernel import SimulatedKernel

NOW = 1_800_000_000.0


def real_server(vips: list[str], tunnels: list[dict] | None = None) -> dict:
    recipe: dict = {"vips": vips, "uplinks": ["eth0"]}
    if tunnels is not None:
        recipe["tunnels"] = tunnels
    return {"version": 1, "host": "rs", "revision": 1, "director": None, "real_server": {"tun": recipe, "dr": None}}


def tunnel(vip: str, kind: str, address: str, port: int | None = None, checksum: str = "none") -> dict:
    return {"vip": vip, "type": kind, "address": address, "port": port, "checksum": checksum}


def planned(doc: dict, tmp_path) -> tuple[list[str], Agent]:
    agent = Agent(root=tmp_path, kernel=SimulatedKernel())
    return [str(op) for op in agent.plan(doc, now=NOW).operations], agent


def test_an_ipv6_vip_arrives_on_ip6tnl0_without_duplicate_address_detection(tmp_path):
    lines, agent = planned(real_server(["2001:db8::100"]), tmp_path)
    assert lines == [
        "load-module ip6_tunnel  (ip6tnl0 does not exist: the ip6_tunnel module creates it)",
        "link-up ip6tnl0  (TUN: decapsulated packets arrive on ip6tnl0)",
        "add-address 2001:db8::100/128 on ip6tnl0  (TUN: the real server accepts VIP traffic on ip6tnl0; "
        "not there yet)",
        "write-file etc/modules-load.d/lvsweb.conf  (keeps the settings across a reboot; missing)",
    ]
    address = agent.plan(real_server(["2001:db8::100"]), now=NOW).operations[2].address
    assert address is not None and address.nodad
    assert agent.apply(real_server(["2001:db8::100"]), now=NOW).ok
    assert agent.plan(real_server(["2001:db8::100"]), now=NOW).empty


def test_an_ipv4_vip_sent_to_an_ipv6_address_needs_ip6tnl0_in_mode_any(tmp_path):
    doc = real_server(["10.10.0.100"], [tunnel("10.10.0.100", "ipip", "2001:db8::11")])
    lines, agent = planned(doc, tmp_path)
    assert lines[:3] == [
        "load-module ip6_tunnel  (ip6tnl0 does not exist: the ip6_tunnel module creates it)",
        "set-link ip6tnl0 mode any  (IPv4 VIPs arrive inside IPv6: in mode ip6ip6 ip6tnl0 drops them; "
        "ip6tnl0 is created in mode ip6ip6)",
        "link-up ip6tnl0  (TUN: decapsulated packets arrive on ip6tnl0)",
    ]
    assert "add-address 10.10.0.100/32 on ip6tnl0  (TUN: the real server accepts VIP traffic on ip6tnl0; " in lines[8]
    assert agent.apply(doc, now=NOW).ok
    assert agent.plan(doc, now=NOW).empty
    # rp_filter applies to the IPv4 packet that comes out of ip6tnl0.
    assert "net.ipv4.conf.ip6tnl0.rp_filter = 0" in render_sysctl_conf(parse_document(doc))


def test_an_ipv6_vip_sent_to_an_ipv4_address_arrives_on_sit0(tmp_path):
    doc = real_server(["2001:db8::100"], [tunnel("2001:db8::100", "ipip", "10.20.0.11")])
    lines, _ = planned(doc, tmp_path)
    assert lines[:3] == [
        "load-module sit  (sit0 does not exist: the sit module creates it)",
        "link-up sit0  (TUN: decapsulated packets arrive on sit0)",
        "add-address 2001:db8::100/128 on sit0  (TUN: the real server accepts VIP traffic on sit0; not there yet)",
    ]
    # IPv6 has no rp_filter: nothing to set, nothing to persist but the module.
    assert render_sysctl_conf(parse_document(doc)) is None
    assert render_modules_conf(parse_document(doc)).splitlines()[-1] == "sit"


def test_gue_listens_on_its_port_per_family_and_persists_fou(tmp_path):
    doc = real_server(
        ["10.10.0.100", "2001:db8::100"],
        [
            tunnel("10.10.0.100", "gue", "10.20.0.11", port=6080, checksum="remcsum"),
            tunnel("2001:db8::100", "gue", "2001:db8::11", port=6080),
        ],
    )
    lines, agent = planned(doc, tmp_path)
    assert "load-module fou  (GUE: the fou module decapsulates UDP-encapsulated packets)" in lines
    assert [line for line in lines if line.startswith("add-fou")] == [
        "add-fou gue port 6080 ipv4  (GUE: the director sends to UDP port 6080 over IPv4; not listening)",
        "add-fou gue port 6080 ipv6  (GUE: the director sends to UDP port 6080 over IPv6; not listening)",
    ]
    assert render_modules_conf(parse_document(doc)).splitlines()[1:] == ["ipip", "fou", "ip6_tunnel"]
    assert agent.apply(doc, now=NOW).ok
    assert agent.plan(doc, now=NOW).empty


def test_gre_uses_the_fallback_devices_and_with_checksums_a_device_of_its_own(tmp_path):
    plain = real_server(["10.10.0.100"], [tunnel("10.10.0.100", "gre", "10.20.0.11")])
    lines, _ = planned(plain, tmp_path)
    assert lines[:3] == [
        "load-module ip_gre  (gre0 does not exist: the ip_gre module creates it)",
        "link-up gre0  (TUN: decapsulated packets arrive on gre0)",
        "set-sysctl net.ipv4.conf.all.rp_filter = 0  (TUN: the decapsulated packet (source = client) arrives on "
        "gre0 and reverse-path filtering drops it; not set yet)",
    ]
    csum = real_server(["2001:db8::100"], [tunnel("2001:db8::100", "gre", "2001:db8::11", checksum="csum")])
    lines, agent = planned(csum, tmp_path)
    assert lines[:3] == [
        "load-module ip6_gre  (lvsgre6 is a ip6gre device: the ip6_gre module)",
        "add-link lvsgre6 ip6gre local 2001:db8::11 icsum  (GRE with checksums: the fallback device drops them "
        "as checksum errors)",
        "link-up lvsgre6  (TUN: decapsulated packets arrive on it)",
    ]
    assert agent.apply(csum, now=NOW).ok
    assert agent.plan(csum, now=NOW).empty
    # Sent to another address now: the device is made again, bound to it.
    moved = real_server(["2001:db8::100"], [tunnel("2001:db8::100", "gre", "2001:db8::12", checksum="csum")])
    assert [str(op).split("  (")[0] for op in agent.plan(moved, now=NOW).operations][:3] == [
        "del-link lvsgre6",
        "add-link lvsgre6 ip6gre local 2001:db8::12 icsum",
        "link-up lvsgre6",
    ]


def test_a_checksum_device_is_persisted_as_optional_sysctl_lines():
    doc = real_server(["10.10.0.100"], [tunnel("10.10.0.100", "gre", "10.20.0.11", checksum="csum")])
    text = render_sysctl_conf(parse_document(doc))
    assert "-net.ipv4.conf.lvsgre4.rp_filter = 0" in text
    assert render_modules_conf(parse_document(doc)).splitlines()[-1] == "ip_gre"


def test_a_vip_goes_on_the_device_of_its_first_tunnel_only(tmp_path):
    doc = real_server(
        ["10.10.0.100"],
        [tunnel("10.10.0.100", "gre", "10.20.0.11"), tunnel("10.10.0.100", "ipip", "10.20.0.11")],
    )
    lines, _ = planned(doc, tmp_path)
    assert [line.split("  (")[0] for line in lines if line.startswith(("add-address", "link-up"))] == [
        "link-up gre0",
        "link-up tunl0",
        "add-address 10.10.0.100/32 on gre0",
    ]


@pytest.mark.parametrize(
    ("tunnels", "path", "message"),
    [
        ([tunnel("10.10.0.101", "ipip", "10.20.0.11")], "$.real_server.tun.tunnels[0].vip", "not in this recipe"),
        ([tunnel("10.10.0.100", "gue", "10.20.0.11")], "$.real_server.tun.tunnels[0].port", "gue needs the UDP"),
        ([tunnel("10.10.0.100", "gre", "10.20.0.11", port=5)], "$.real_server.tun.tunnels[0].port", "no port"),
        (
            [tunnel("10.10.0.100", "gre", "10.20.0.11", checksum="remcsum")],
            "$.real_server.tun.tunnels[0].checksum",
            "only for gue",
        ),
        (
            [
                tunnel("10.10.0.100", "gre", "10.20.0.11", checksum="csum"),
                tunnel("10.10.0.100", "gre", "10.20.0.11"),
            ],
            "$.real_server.tun.tunnels[1].checksum",
            "must agree on checksums",
        ),
    ],
    ids=["vip-not-listed", "gue-without-port", "gre-with-port", "gre-remcsum", "gre-mixed-checksums"],
)
def test_the_document_refuses_tunnels_nothing_could_decapsulate(tunnels, path, message):
    with pytest.raises(DocumentError) as error:
        parse_document(real_server(["10.10.0.100"], tunnels))
    assert any(where == path and message in text for where, text in error.value.problems), error.value.problems


def test_the_plain_ipv4_recipe_is_unchanged():
    """Documents without `tunnels` (every agent before this) get exactly what they got: tunl0, ipip."""
    doc = real_server(["10.10.0.100"])
    assert render_modules_conf(parse_document(doc)).splitlines()[1:] == ["ipip"]
    assert "arrives on tunl0 and reverse-path filtering drops it" in render_sysctl_conf(parse_document(doc))


def test_a_missing_tunnel_module_is_named_with_what_it_is_for():
    from lvsweb_agent.errors import explain
    from lvsweb_agent.planner import Operation

    assert explain(Operation("load-module", "sit"), errno.ENODEV) == (
        "cannot load kernel module sit (IPv6-in-IPv4 tunnels: sit0, for IPv6 VIPs sent to this host's IPv4 "
        "address): this kernel lacks it or refused it; see `lvsweb-agent check` (ENODEV)"
    )


def test_check_names_the_modules_and_the_kernel_a_document_needs(tmp_path):
    from lvsweb_agent.check import check_kernel

    modules = tmp_path / "modules"
    (modules / "5.1.0" / "kernel" / "net" / "ipv4").mkdir(parents=True)
    (modules / "5.1.0" / "kernel" / "net" / "ipv4" / "ipip.ko").write_text("")
    doc = real_server(["10.10.0.100"], [tunnel("10.10.0.100", "gue", "10.20.0.11", port=6080)])
    doc["director"] = {
        "vips": [],
        "services": [
            {
                "protocol": "tcp",
                "address": "10.10.0.100",
                "port": 80,
                "scheduler": "rr",
                "real_servers": [
                    {
                        "address": "10.20.0.11",
                        "port": 80,
                        "forward": "tun",
                        "tunnel": {"type": "gre", "port": None, "checksum": "none"},
                    }
                ],
            }
        ],
    }
    report = check_kernel(parse_document(doc), release="5.1.0", modules_dir=str(modules))
    assert [line for line in report.missing if not line.startswith(("ip_vs", "scheduler"))] == [
        "gre tunnels: this kernel's IPVS sends only ipip (tunnel types need Linux 5.3 or later; an older one "
        "would silently send ipip, which the real server does not expect)",
        "fou: the TUN recipe needs it (GUE: the UDP listener that unwraps GUE packets)",
    ]


def test_a_checksum_device_clashing_with_an_existing_one_says_which_to_remove(tmp_path):
    from lvsweb_agent.errors import explain

    doc = real_server(["10.10.0.100"], [tunnel("10.10.0.100", "gre", "10.20.0.11", checksum="csum")])
    [op] = [op for op in Agent(root=tmp_path, kernel=SimulatedKernel()).plan(doc).operations if op.kind == "add-link"]
    assert explain(op, errno.EEXIST) == (
        "cannot add lvsgre4 (gre local 10.20.0.11 icsum): another tunnel device of this host already takes GRE "
        "packets sent to that address without a key; remove it (`ip -d link show type gre`) (EEXIST)"
    )
