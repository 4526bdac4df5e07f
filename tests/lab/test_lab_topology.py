"""The lab itself, without the agent: LVS by hand with ipvsadm and ip works in this topology."""

import pytest
from labnet import RP_FILTER_SCOPES, VIP, Lab

pytestmark = pytest.mark.lab


def test_hand_made_tun_serves_both_real_servers_and_replies_bypass_the_director(network: Lab):
    director, client = network["director"], network["client"]
    director.ip("addr", "add", f"{VIP}/32", "dev", "eth0")
    director.run("ipvsadm", "-A", "-t", f"{VIP}:80", "-s", "rr")
    for address in ("10.20.0.11", "10.20.0.12"):
        director.run("ipvsadm", "-a", "-t", f"{VIP}:80", "-r", f"{address}:80", "-i")
    for name in ("rs1", "rs2"):
        rs = network[name]
        rs.ip("addr", "add", f"{VIP}/32", "dev", "tunl0")
        rs.ip("link", "set", "tunl0", "up")
        rs.set_sysctls({f"net.ipv4.conf.{scope}.rp_filter": "0" for scope in RP_FILTER_SCOPES})

    answers = client.fetch(4)

    assert answers in (["rs1", "rs2"] * 2, ["rs2", "rs1"] * 2)
    stats = director.wait_for_counters(f"TCP {VIP}:80", conns=4)
    assert stats["inpkts"] > 0
    assert stats["outpkts"] == 0


def test_reset_puts_the_hosts_back(network: Lab):
    """What the previous test (or this one) changed is gone after a reset."""
    director, rs1 = network["director"], network["rs1"]
    director.run("ipvsadm", "-A", "-t", f"{VIP}:80", "-s", "rr")
    director.ip("addr", "add", f"{VIP}/32", "dev", "eth0")
    director.ip("route", "del", "default")
    rs1.ip("addr", "add", f"{VIP}/32", "dev", "tunl0")
    rs1.ip("link", "set", "tunl0", "up")
    rs1.set_sysctls({"net.ipv4.conf.all.rp_filter": "0"})

    network.reset()

    assert director.ipvs_save() == ""
    assert f"{VIP}/32" not in director.addresses("eth0")["eth0"]
    assert "default via 10.10.0.1" in director.ip("route", "show")
    assert rs1.addresses().get("tunl0", []) == []
    assert not rs1.link_is_up("tunl0")
    assert rs1.sysctl("net.ipv4.conf.all.rp_filter") == "1"
