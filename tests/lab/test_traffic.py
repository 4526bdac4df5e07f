"""Live traffic from a real kernel: HTTP through the TUN VIP shows on the right real servers in the agent's
batches (agents/lvsweb_agent/stats.py), with OutPkts 0 on the director, and the rate maths gives honest rates."""

import time

import labdocs
import pytest
from labnet import VIP, Lab

pytestmark = pytest.mark.lab

SERVICE = f"tcp {VIP}:80"


def test_http_through_the_tun_vip_shows_in_the_batches_on_each_real_server(network: Lab, apply_all):
    from lvsweb_agent.stats import StatsSender

    from traffic.rates import Reading, advance, normalize

    apply_all(
        {
            "director": labdocs.tun_director(),
            "rs1": labdocs.tun_real_server("rs1"),
            "rs2": labdocs.tun_real_server("rs2"),
        }
    )
    batches = []
    sender = StatsSender(host="director", send=batches.append, netns="director", interval=1.0)
    table, state, windows = {}, None, []

    def read() -> None:
        nonlocal state
        batch = sender.tick()
        for row in batch["rows"]:
            table[tuple(row[:3])] = row[3:]
        state, rolled = advance(state, Reading(batch["at"], normalize(table[(SERVICE, None, 0)][2:])))
        if rolled:
            windows.append(state.rates)

    try:
        read()
        answers = network["client"].fetch(6)
        deadline = time.monotonic() + 12
        while time.monotonic() < deadline:
            time.sleep(1.0)  # the agent's pace: the kernel adds the traffic up within about 2 s
            read()
            if table[(SERVICE, None, 0)][2] >= 6 and len(windows) >= 2:
                break
    finally:
        sender.close()

    assert sorted(answers) == ["rs1"] * 3 + ["rs2"] * 3
    first = batches[0]
    assert first["full"] and first["seq"] == 1
    assert sorted((row[1] or "service", row[5]) for row in first["rows"]) == [
        ("10.20.0.11", 0),
        ("10.20.0.12", 0),
        ("service", 0),
    ]
    # later batches carry only what changed
    assert not any(batch["full"] for batch in batches[1:])
    assert any(len(batch["rows"]) < 3 for batch in batches[1:])
    for address in ("10.20.0.11", "10.20.0.12"):
        active, inactive, conns, in_packets, out_packets, in_bytes, out_bytes = table[(SERVICE, address, 80)]
        assert conns == 3, f"{address}: {conns} connections"
        assert in_packets >= 3 * 4 and in_bytes > 0  # SYN, ACK, request, FIN ... per connection
        assert (out_packets, out_bytes) == (0, 0)  # TUN: the replies went straight to the client
        assert active + inactive <= 3
    service = table[(SERVICE, None, 0)]
    assert (service[2], service[4]) == (6, 0)
    # an honest rate: the 6 connections spread over the window that saw them (at least 1.5 s long)
    assert any(window[0] > 0 for window in windows)
    assert all(0 <= window[0] <= 6 / 1.5 for window in windows)
    assert sum(window[0] for window in windows) > 0
