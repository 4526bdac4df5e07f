"""The differential test: keepalived 2.2.7 and lvsweb make the same IPVS table from one keepalived.conf.

For each configuration — Debian's keepalived samples that hold virtual servers, and cases of our own for TUN
(ipip, gue, gre), DR, NAT port maps, scheduler flags, ops, thresholds, IPv6, firewall marks, SCTP, groups,
keepalived's defaults and mixed case — keepalived runs it in one namespace, lvsweb imports it and its agent
applies it in another, and the sorted `ipvsadm -Sn` lines must be identical. Then the same through the export:
lvsweb's keepalived.conf of the imported rule set, run by keepalived, gives the same table again.
"""

from __future__ import annotations

from pathlib import Path

import kadiff
import pytest

pytestmark = pytest.mark.lab

OWN = {
    "tunnels": """
virtual_server 10.10.0.100 80 {
    lb_algo rr
    lb_kind TUN
    protocol TCP
    real_server 10.20.0.11 80 { weight 2 }
    real_server 10.20.0.12 80 { lvs_method TUN type gue port 6080 csum }
    real_server 10.20.0.13 80 { lvs_method TUN type gre nocsum }
}
""",
    "dr_and_nat_port_map": """
virtual_server 10.10.0.101 80 {
    lb_algo wrr
    lb_kind DR
    protocol TCP
    persistence_timeout 600
    persistence_granularity 255.255.255.0
    real_server 10.10.0.21 80 { weight 3 }
    real_server 10.10.0.22 8080 { weight 1 }
}
virtual_server 10.10.0.102 80 {
    lb_algo lc
    lb_kind NAT
    protocol TCP
    real_server 10.30.0.11 8080 { weight 1 }
    real_server 10.30.0.12 { weight 4 }
}
""",
    "flags_ops_thresholds": """
virtual_server 10.10.0.103 53 {
    lb_algo sh
    sh-port
    sh-fallback
    ops
    lb_kind DR
    protocol UDP
    real_server 10.10.0.21 53 { uthreshold 500 lthreshold 400 }
    real_server 10.10.0.22 53 { weight 0 }
}
virtual_server 10.10.0.104 443 {
    mh-port
    lb_algo mh
    mh-fallback
    ops
    lb_kind DR
    protocol TCP
    real_server 10.10.0.21 443 { }
}
""",
    "ipv6_fwmark_sctp": """
virtual_server 2001:db8::100 443 {
    lb_algo wlc
    lb_kind DR
    protocol TCP
    persistence_timeout
    real_server 2001:db8::21 443 { weight 2 }
}
virtual_server fwmark 7 {
    ip_family inet6
    lb_algo rr
    lb_kind TUN
    persistence_timeout 300
    persistence_granularity 64
    real_server 2001:db8:20::11 { weight 1 }
}
virtual_server fwmark 8 {
    lb_algo wrr
    lb_kind NAT
    real_server 10.30.0.11 8080 { weight 1 }
}
virtual_server 10.10.0.105 3868 {
    lb_algo rr
    lb_kind DR
    protocol SCTP
    real_server 10.10.0.21 3868 { weight 1 }
}
""",
    "defaults": """
virtual_server 10.10.0.106 80 {
    real_server 10.30.0.11 8080 {
    }
    real_server 10.30.0.12 {
    }
}
virtual_server 10.10.0.107 0 {
    lb_kind DR
    weight 5
    real_server 10.10.0.21 0 {
    }
}
virtual_server 10.10.0.108 80 {
    lb_kind DR
    protocol TCP
    persistence_granularity 255.255.0.0
    real_server 10.10.0.21 80 { }
    real_server 10.10.0.21 80 { weight 9 }
}
""",
    "mixed_case_and_one_line_blocks": """
virtual_server 10.10.0.109 80 { lb_algo RR
  lb_kind dr  ! keepalived ignores both values (case-sensitive): wlc and NAT
  protocol tcp
  real_server 10.30.0.11 8080 { weight 2 }  # a comment
}
virtual_server 10.10.0.110 80 {
  lb_algo rr#no space before this comment
  lb_kind TUN
  protocol Udp
  sh-port
  real_server 10.20.0.11 80 { weight 1 } }
""",
    "group": """
virtual_server_group web {
    10.10.0.120-122 80
    10.10.0.130 80
    fwmark 9
}
virtual_server group web {
    lb_algo wrr
    lb_kind DR
    protocol TCP
    real_server 10.10.0.21 80 { weight 2 }
    real_server 10.10.0.22 80 { weight 1 }
}
""",
}


@pytest.fixture(scope="module")
def namespaces():
    kadiff.setup()
    yield
    kadiff.teardown()


def agent_factory(root: Path):
    from lvsweb_agent.agent import Agent

    return lambda revision: Agent(root=str(root / f"agent-{revision}"), netns=kadiff.NAMESPACES[1])


def compare(cases: dict[str, str], tmp_path: Path) -> list[str]:
    from clusters.interchange import keepalived

    failures = []
    for number, (name, text) in enumerate(cases.items(), start=1):
        parsed = keepalived.parse(text)
        assert not parsed.errors, f"{name}: {[str(e) for e in parsed.errors]}"
        ours = kadiff.lvsweb_table(parsed.services, agent_factory(tmp_path), number)
        kept, log = kadiff.keepalived_table(text, tmp_path, expected=ours)
        if kept != ours:
            failures.append(f"{name}: keepalived {kept}\n  lvsweb {ours}\n  keepalived said: {log[-1500:]}")
            continue
        exported = keepalived.render(
            parsed.services,
            methods=parsed.service_methods,
            checks=parsed.checks,
            dest_checks=parsed.dest_checks,
            groups=parsed.groups,
        )
        again, log = kadiff.keepalived_table(exported, tmp_path, expected=ours)
        if again != ours:
            failures.append(
                f"{name} (export): keepalived {again}\n  lvsweb {ours}\n  export:\n{exported}\n{log[-800:]}"
            )
    return failures


def test_our_cases_give_keepalived_s_table(namespaces, tmp_path):
    failures = compare(OWN, tmp_path)
    assert not failures, "\n".join(failures)


#: Debian's samples with virtual servers (keepalived.conf.sample, .virtual_server_group, .quorum, .fwmark …).
SAMPLES = kadiff.samples()


def test_debian_ships_its_samples():
    assert len(SAMPLES) >= 10, sorted(SAMPLES)


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_debian_samples_give_keepalived_s_table(namespaces, tmp_path, name):
    failures = compare({name: SAMPLES[name]}, tmp_path)
    assert not failures, "\n".join(failures)
