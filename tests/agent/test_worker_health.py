"""`lvsweb-agent run` checks health: a real agent process on the real Redis sends signed health reports."""

from __future__ import annotations

import pytest

from .test_probes import Site, free_port
from .test_worker import AgentProcess, director_doc

pytestmark = pytest.mark.timeout(90)


@pytest.fixture
def agent(tmp_path):
    from .redisdb import claimed_redis_db

    with claimed_redis_db() as url:
        process = AgentProcess(tmp_path, url, heartbeat_interval=1).start()
        yield process
        process.stop()


def test_a_director_agent_checks_what_it_applies_and_reports_transitions(agent):
    site = Site()
    closed = free_port()
    try:
        document = director_doc(1)
        check = {"interval": 0.3, "timeout": 0.3, "rise": 1, "fall": 1}
        document["director"]["services"][0]["real_servers"] = [
            {"address": "127.0.0.1", "port": site.port, "forward": "nat", "health_check": {"type": "http", **check}},
            {"address": "127.0.0.2", "port": closed, "forward": "nat", "health_check": {"type": "tcp", **check}},
        ]
        # This machine's kernel has no IPVS: the apply fails, but the agent checks what the document names.
        command = agent.command("apply", document=document)
        agent.report(kind="deployment", deployment=command["deployment"], status="failed")
        seen: dict[str, str] = {}
        while set(seen) != {"127.0.0.1", "127.0.0.2"}:
            report = agent.report(kind="health")
            seen.update({t["address"]: t["to"] for t in report["transitions"]})
        assert seen == {"127.0.0.1": "up", "127.0.0.2": "down"}
        periodic = agent.report(kind="health", transitions=[])
        results = {r["address"]: (r["status"], r["check"]) for r in periodic["results"]}
        assert results == {"127.0.0.1": ("up", "http"), "127.0.0.2": ("down", "tcp")}
        assert "Connection refused" in next(r["message"] for r in periodic["results"] if r["address"] == "127.0.0.2")
    finally:
        site.stop()
