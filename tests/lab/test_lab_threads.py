"""`lvsweb-agent --netns NS run` makes its Agent in the heartbeat thread and applies commands in another:
the Agent must act in NS from every thread (pyroute2 opens its sockets per thread)."""

import threading

import labdocs
import pytest
from labnet import VIP, Lab

pytestmark = pytest.mark.lab


def test_an_agent_made_in_one_thread_applies_in_its_namespace_from_another(network: Lab, tmp_path):
    from lvsweb_agent.agent import Agent

    made = {}
    maker = threading.Thread(target=lambda: made.setdefault("agent", Agent(root=str(tmp_path), netns="director")))
    maker.start()
    maker.join()
    agent = made["agent"]
    try:
        result = agent.apply(labdocs.tun_director())
    finally:
        agent.close()

    assert result.ok, result.error
    assert f"{VIP}/32" in network["director"].addresses()["eth0"]
    assert f"TCP {VIP}:80" in network["director"].ipvs_table()
