"""`show --json` and `show --ipvsadm`: the actual state as operators and the console read it."""

from __future__ import annotations

import json

from lvsweb_agent.agent import Agent, state_json
from lvsweb_agent.model import ServiceKey

from .docs import example
from .simkernel import SimulatedKernel

WEB = ServiceKey.for_address("tcp", "10.10.0.100", 80)


def test_show_json_has_connections_and_thresholds(tmp_path):
    sim = SimulatedKernel()
    agent = Agent(root=tmp_path, kernel=sim)
    agent.apply(example("tun-director"), now=0)
    sim.set_connections(WEB, "10.20.0.11", 80, active=4, inactive=1)
    data = json.loads(json.dumps(state_json(agent.show())))
    web = next(s for s in data["services"] if s.get("port") == 80)
    assert web["scheduler"] == "rr"
    first = next(d for d in web["real_servers"] if d["address"] == "10.20.0.11")
    assert (first["active_conns"], first["inactive_conns"], first["forward"]) == (4, 1, "tun")
    assert first["tunnel"] == {"type": "ipip", "port": 0, "checksum": "none"}
    assert data["addresses"] == [{"interface": "eth0", "address": "10.10.0.100", "prefix": 32}]


def test_show_ipvsadm_is_the_save_format(tmp_path):
    agent = Agent(root=tmp_path, kernel=SimulatedKernel())
    agent.apply(example("tun-director"), now=0)
    assert agent.show_ipvsadm() == (
        "-A -t 10.10.0.100:80 -s rr\n"
        "-a -t 10.10.0.100:80 -r 10.20.0.11:80 -i -w 1 --tun-type ipip\n"
        "-a -t 10.10.0.100:80 -r 10.20.0.12:80 -i -w 1 --tun-type ipip\n"
        "-A -f 5 -s wlc -p 300\n"
    )
