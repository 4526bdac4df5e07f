"""The agent makes TUN, DR and NAT carry real traffic: asserted on answers and on the kernel's own state."""

import labdocs
import pytest
from labnet import RP_FILTER_SCOPES, VIP, Lab

pytestmark = pytest.mark.lab

SERVICE = f"TCP {VIP}:80"


def alternates(answers: list[str], first: str, second: str) -> bool:
    """rr: the two real servers answer in turn."""
    return answers in ([first, second] * (len(answers) // 2), [second, first] * (len(answers) // 2))


def test_tun_real_servers_answer_in_turn_and_replies_bypass_the_director(network: Lab, apply_all):
    apply_all(
        {
            "director": labdocs.tun_director(),
            "rs1": labdocs.tun_real_server("rs1"),
            "rs2": labdocs.tun_real_server("rs2"),
        }
    )

    answers = network["client"].fetch(4)

    assert alternates(answers, "rs1", "rs2"), answers
    stats = network["director"].wait_for_counters(SERVICE, conns=4)
    assert stats["inpkts"] > 0
    assert stats["outpkts"] == 0, "TUN replies must go straight from the real servers to the client"
    assert network["director"].ipvs_table()[SERVICE]["10.20.0.11:80"].forward == "Tunnel"


def test_tun_real_server_gets_the_recipe_and_keeps_it_across_reboots(network: Lab, apply_all, agent_cli):
    rs1 = network["rs1"]
    assert rs1.sysctl("net.ipv4.conf.all.rp_filter") == "1"  # the baseline: the recipe must change it

    apply_all({"rs1": labdocs.tun_real_server("rs1")})

    assert rs1.addresses("tunl0")["tunl0"] == [f"{VIP}/32"]
    assert f"{VIP}/32" not in rs1.addresses("eth0")["eth0"]
    assert rs1.link_is_up("tunl0")
    for scope in RP_FILTER_SCOPES:
        assert rs1.sysctl(f"net.ipv4.conf.{scope}.rp_filter") == "0", scope
    root = agent_cli.root("rs1")
    sysctl_conf = (root / "etc/sysctl.d/90-lvsweb.conf").read_text()
    for scope in RP_FILTER_SCOPES:
        assert f"net.ipv4.conf.{scope}.rp_filter" in sysctl_conf, scope
    assert "ipip" in (root / "etc/modules-load.d/lvsweb.conf").read_text().split()


def test_dr_real_servers_on_the_directors_subnet_answer_in_turn(network: Lab, apply_all):
    apply_all(
        {
            "director": labdocs.dr_director(),
            "dr1": labdocs.dr_real_server("dr1"),
            "dr2": labdocs.dr_real_server("dr2"),
        }
    )

    answers = network["client"].fetch(4)

    assert alternates(answers, "dr1", "dr2"), answers
    stats = network["director"].wait_for_counters(SERVICE, conns=4)
    assert stats["outpkts"] == 0, "DR replies must go straight from the real servers to the client"
    dr1 = network["dr1"]
    assert f"{VIP}/32" in dr1.addresses("lo")["lo"]
    for scope in ("all", "eth0"):
        assert dr1.sysctl(f"net.ipv4.conf.{scope}.arp_ignore") == "1", scope
        assert dr1.sysctl(f"net.ipv4.conf.{scope}.arp_announce") == "2", scope
    assert network["director"].ipvs_table()[SERVICE]["10.10.0.21:80"].forward == "Route"


def test_nat_maps_the_port_and_the_director_carries_the_replies(network: Lab, apply_all):
    director = network["director"]
    assert director.sysctl("net.ipv4.ip_forward") == "0"

    apply_all({"director": labdocs.nat_director()})

    answers = network["client"].fetch(4)

    assert alternates(answers, "nat1", "nat2"), answers
    assert director.sysctl("net.ipv4.ip_forward") == "1"
    stats = director.wait_for_counters(SERVICE, conns=4)
    assert stats["outpkts"] > 0, "in NAT mode the replies come back through the director"
    assert director.ipvs_table()[SERVICE]["10.30.0.11:8080"].forward == "Masq"
