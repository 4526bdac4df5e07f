"""Fixtures of the dispatch tests: a TUN cluster with an enrolled director and two enrolled real servers."""

import pytest

from agents.host.envelope import generate_private_key, public_key_text
from clusters.choices import HostRole
from tests.dispatch.broker import purge
from tests.factories import make_cluster, make_cluster_host, make_host, make_real_server, make_virtual_service


class Lab:
    """The inventory of the lab topology: director + rs1 + rs2, one TUN service on 10.10.0.100:80."""

    def __init__(self):
        self.keys = {name: generate_private_key() for name in ("director", "rs1", "rs2")}
        self.cluster = make_cluster(name="web", slug="web", drain_timeout=30)
        self.director = make_host(
            hostname="director", vip_interface="eth0", public_key=public_key_text(self.keys["director"])
        )
        self.rs1 = make_host(hostname="rs1", uplinks="eth0", public_key=public_key_text(self.keys["rs1"]))
        self.rs2 = make_host(hostname="rs2", uplinks="eth0", public_key=public_key_text(self.keys["rs2"]))
        make_cluster_host(cluster=self.cluster, host=self.director, role=HostRole.DIRECTOR)
        make_cluster_host(cluster=self.cluster, host=self.rs1, role=HostRole.REAL_SERVER)
        make_cluster_host(cluster=self.cluster, host=self.rs2, role=HostRole.REAL_SERVER)
        self.service = make_virtual_service(cluster=self.cluster, address="10.10.0.100", port=80, scheduler="rr")
        self.real_server1 = make_real_server(virtual_service=self.service, address="10.20.0.11", host=self.rs1)
        self.real_server2 = make_real_server(virtual_service=self.service, address="10.20.0.12", host=self.rs2)


#: The broker queues the lab cluster's commands and reports travel through.
LAB_QUEUES = ("control", "lvsweb.host.director", "lvsweb.host.rs1", "lvsweb.host.rs2")


@pytest.fixture
def lab(db):
    """The lab inventory, with its queues empty before and after (tests share one Redis database)."""
    purge(*LAB_QUEUES)
    yield Lab()
    purge(*LAB_QUEUES)
