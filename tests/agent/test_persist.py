"""The files that keep a real server's recipe across a reboot."""

from __future__ import annotations

from lvsweb_agent.agent import Agent
from lvsweb_agent.document import parse_document
from lvsweb_agent.persist import parse_sysctl_conf, render_modules_conf, render_sysctl_conf, sysctl_path

from .docs import changed, example
from .simkernel import SimulatedKernel


def test_tun_real_server_persists_rp_filter_off_and_the_ipip_module():
    desired = parse_document(example("tun-real-server"))
    assert parse_sysctl_conf(render_sysctl_conf(desired)) == {
        "net.ipv4.conf.all.rp_filter": "0",
        "net.ipv4.conf.default.rp_filter": "0",
        "net.ipv4.conf.lo.rp_filter": "0",
        "net.ipv4.conf.tunl0.rp_filter": "0",
        "net.ipv4.conf.eth0.rp_filter": "0",
    }
    assert render_modules_conf(desired).splitlines()[1:] == ["ipip"]


def test_dr_real_server_persists_arp_settings_and_no_module():
    desired = parse_document(example("dr-real-server"))
    assert parse_sysctl_conf(render_sysctl_conf(desired)) == {
        "net.ipv4.conf.all.arp_ignore": "1",
        "net.ipv4.conf.all.arp_announce": "2",
        "net.ipv4.conf.eth0.arp_ignore": "1",
        "net.ipv4.conf.eth0.arp_announce": "2",
    }
    assert render_modules_conf(desired) is None


def test_nat_director_persists_ip_forward():
    desired = parse_document(example("nat-director"))
    values = parse_sysctl_conf(render_sysctl_conf(desired))
    assert values["net.ipv4.ip_forward"] == "1"


def test_vlan_interface_names_use_a_slash_in_sysctl_names():
    doc = changed(example("tun-real-server"), lambda d: d["real_server"]["tun"].update(uplinks=["eth0.100"]))
    text = render_sysctl_conf(parse_document(doc))
    assert "net.ipv4.conf.eth0/100.rp_filter = 0" in text
    assert sysctl_path("net.ipv4.conf.eth0/100.rp_filter") == "/proc/sys/net/ipv4/conf/eth0.100/rp_filter"


def test_files_are_written_under_root_and_removed_when_no_longer_needed(tmp_path):
    sim = SimulatedKernel()
    agent = Agent(root=tmp_path, kernel=sim)
    agent.apply(example("tun-real-server"), now=0)
    assert set(sim.files) == {"etc/sysctl.d/90-lvsweb.conf", "etc/modules-load.d/lvsweb.conf"}
    switched = agent.apply(example("dr-real-server"), now=1)
    lines = [str(op) for op in switched.plan.operations]
    assert "remove-file etc/modules-load.d/lvsweb.conf  (nothing to persist any more)" in lines
    # The VIP moves from tunl0 to lo and is removed from tunl0 once, not twice.
    assert [line for line in lines if line.startswith("del-address")] == [
        "del-address 10.10.0.100/32 on tunl0  (the VIP must only be on lo: held on tunl0 the host would answer "
        "ARP for it and take the director's traffic)"
    ]
    assert (tmp_path / "var/lib/lvsweb-agent/state.json").exists()
