"""The hand recipe of a real server with every kind of tunnel: the same steps as the agent's plan, as commands
that succeed when their work is done already (tests/lab/test_lab_tunnels.py runs them: the agent's plan is then
empty)."""

from lvsweb_agent.document import parse_document

from dispatch.recipes import apply_steps, render_apply_script

DOCUMENT = {
    "version": 1,
    "host": "web1",
    "revision": 3,
    "director": None,
    "real_server": {
        "tun": {
            "vips": ["10.10.0.100", "2001:db8::100", "10.10.0.101"],
            "uplinks": ["eth0"],
            "tunnels": [
                {"vip": "10.10.0.100", "type": "gue", "address": "2001:db8:2::11", "port": 6080, "checksum": "none"},
                {"vip": "2001:db8::100", "type": "gre", "address": "10.20.0.11", "port": None, "checksum": "csum"},
                {"vip": "10.10.0.101", "type": "gue", "address": "10.20.0.11", "port": 6081, "checksum": "remcsum"},
            ],
        },
        "dr": None,
    },
}


def test_every_tunnel_step_is_a_repeatable_command():
    commands = [command for step in apply_steps(parse_document(DOCUMENT)) for command in step.commands]
    assert commands[:6] == [
        "modprobe ip6_tunnel",
        "modprobe ipip",
        "modprobe ip_gre",
        "modprobe fou",
        "ip link show lvsgre4 >/dev/null 2>&1 || ip link add lvsgre4 type gre local 10.20.0.11 icsum",
        "ip -6 tunnel change ip6tnl0 mode any",
    ]
    assert "ip fou show | grep -qxF 'port 6080 gue -6' || ip -6 fou add port 6080 gue" in commands
    assert "ip fou show | grep -qxF 'port 6081 gue' || ip fou add port 6081 gue" in commands
    assert "address 2001:db8::100/128 lvsgre4 nodad" in commands
    assert "only_on 2001:db8::100/128 lvsgre4" in commands
    assert "address 10.10.0.100/32 ip6tnl0" in commands


def test_the_script_names_why_each_device_is_there():
    script = render_apply_script(parse_document(DOCUMENT))
    assert "# GRE with checksums: the fallback device drops them as checksum errors" in script
    assert "# IPv4 VIPs arrive inside IPv6: in mode ip6ip6 ip6tnl0 drops them" in script
