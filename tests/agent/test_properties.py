"""Property tests: whatever the kernel held before, one apply makes it match the document, and the
ipvsadm-save text round-trips. The kernel here is SimulatedKernel; the lab tests use the real one."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lvsweb_agent.agent import Agent
from lvsweb_agent.document import parse_document
from lvsweb_agent.ipvsadm import parse_save, render_save

from .simkernel import SimulatedKernel

SCHEDULERS = ["rr", "wrr", "wlc", "sh", "mh"]
SERVICE_KEYS = [
    {"protocol": "tcp", "address": "10.10.0.100", "port": 80},
    {"protocol": "tcp", "address": "10.10.0.100", "port": 443},
    {"protocol": "udp", "address": "10.10.0.101", "port": 53},
    {"protocol": "sctp", "address": "2001:db8::100", "port": 80},
    {"fwmark": 5},
    {"fwmark": 6, "family": "ipv6"},
]
V4_DESTS = ["10.20.0.11", "10.20.0.12", "10.20.0.13", "10.30.0.11"]
V6_DESTS = ["2001:db8:1::11", "2001:db8:1::12"]


@st.composite
def dests(draw, key: dict) -> list[dict]:
    family_v6 = key.get("family") == "ipv6" or ":" in key.get("address", "")
    pool = V6_DESTS if family_v6 else V4_DESTS
    chosen = draw(st.lists(st.sampled_from(pool), unique=True, max_size=len(pool)))
    result = []
    for address in chosen:
        forward = draw(st.sampled_from(["tun", "dr", "nat"]))
        port = key.get("port", 0) if forward != "nat" else draw(st.sampled_from([80, 8080]))
        dest = {"address": address, "port": port, "forward": forward, "weight": draw(st.integers(0, 5))}
        if forward == "tun":
            dest["tunnel"] = draw(
                st.sampled_from(
                    [
                        None,
                        {"type": "ipip"},
                        {"type": "gue", "port": 6080, "checksum": "remcsum"},
                        {"type": "gre", "checksum": "csum"},
                    ]
                )
            )
        dest["upper_threshold"] = draw(st.sampled_from([0, 100]))
        result.append(dest)
    return result


@st.composite
def documents(draw, drain_timeout: int = 0) -> dict:
    keys = draw(st.lists(st.sampled_from(range(len(SERVICE_KEYS))), unique=True, max_size=len(SERVICE_KEYS)))
    services = []
    for index in keys:
        key = SERVICE_KEYS[index]
        scheduler = draw(st.sampled_from(SCHEDULERS))
        flags = []
        if scheduler in ("sh", "mh"):
            flags = draw(st.lists(st.sampled_from([f"{scheduler}-fallback", f"{scheduler}-port"]), unique=True))
        v6 = key.get("family") == "ipv6" or ":" in key.get("address", "")
        persistence = draw(
            st.sampled_from([None, {"timeout": 300}, {"timeout": 60, "netmask": 64 if v6 else "255.255.255.0"}])
        )
        service = {
            **key,
            "scheduler": scheduler,
            "flags": flags,
            "persistence": persistence,
            "one_packet": draw(st.booleans()),
            "real_servers": draw(dests(key)),
        }
        services.append(service)
    return {
        "version": 1,
        "host": "director1",
        "revision": 1,
        "director": {
            "owns_ipvs_table": True,
            "drain_timeout": drain_timeout,
            "vips": [{"address": "10.10.0.100", "interface": "eth0"}],
            "services": services,
        },
    }


SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@SETTINGS
@given(before=documents(), after=documents())
def test_one_apply_makes_the_kernel_match_and_the_next_plan_is_empty(tmp_path_factory, before, after):
    sim = SimulatedKernel()
    agent = Agent(root=tmp_path_factory.mktemp("root"), kernel=sim)
    assert agent.apply(before, now=0).ok
    result = agent.apply(after, now=1)
    assert result.ok, result.error
    assert agent.plan(after, now=2).empty
    wanted = parse_document(after).director.services
    assert render_save(sim.services.values()) == render_save(wanted)


@SETTINGS
@given(before=documents(drain_timeout=300), after=documents(drain_timeout=300))
def test_drains_finish_by_the_deadline_and_never_touch_kept_real_servers(tmp_path_factory, before, after):
    sim = SimulatedKernel()
    agent = Agent(root=tmp_path_factory.mktemp("root"), kernel=sim)
    assert agent.apply(before, now=0).ok
    first = agent.apply(after, now=1)
    assert first.ok
    # The first round only drains: nothing that leaves is deleted while it may still carry connections,
    # except services that have no real servers at all.
    assert all(op.kind != "del-dest" for op in first.applied)
    agent.apply(after, now=400)
    agent.apply(after, now=401)
    assert agent.plan(after, now=402).empty
    assert render_save(sim.services.values()) == render_save(parse_document(after).director.services)


@settings(max_examples=100, deadline=None)
@given(doc=documents())
def test_ipvsadm_save_text_round_trips(doc):
    services = parse_document(doc).director.services
    text = render_save(services)
    assert render_save(parse_save(text)) == text
