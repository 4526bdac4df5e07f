"""Full stack, director HA (docs/ha.md, issue 17): the console shows the active director change within 2 s of
the VRRP transition.

daphne and a control worker run on this machine; in the lab VM (one boot) two directors ha1 (VRRP priority 150)
and ha2 (100) share the client's segment (tests/lab/hanet.py: multicast VRRP, keepalived from Debian) in front
of TUN real servers rs1 and rs2, and four installed agents (guest.py, as in test_fullstack.py) reach this
machine only through the restricted forwards. Everything goes through the REST API: the cluster with both
directors in VIP group "web" (VIP 10.10.0.150:9000) is created and applied. A signed-in member's page socket
(stack.PageSocket: daphne's real websocket, at the path the cluster page's HA section names, with the session
cookie, as lvsweb/static/js/ha.js opens it) sees ha1 active. Then ha1's keepalived is stopped in the VM and the
test measures how long after the VRRP transition the page is told that ha2 holds the VIP.

How the delay is measured (the VM's clock is not this machine's): in the VM, guest.py's `failover` stops
keepalived and polls, every 20 ms, whether ha2 holds the VIP (what keepalived's transition to master does
first). The transition is put at the start of the last poll that did not see the VIP on ha2 — an early bound,
so the delay is never measured too short. That VM time is turned into this machine's clock with the offset
from Redis TIME exchanges taken right after (observer.clock_offset; ± half the shortest round trip, which is
added to the delay before comparing). The end is the moment this machine's websocket client receives the first
`ha` event whose holders are exactly ["ha2"]. The agents' heartbeats are every 30 s here (the console's
setting), so the bound is met only by the path the issue asks for: ha2's agent reports the transition at once
(`ha` report), the control worker records it and pushes the group's status to the cluster's websocket. The
event must also carry the report's cause (a heartbeat would say "seen in a heartbeat"). Without that push the
page would wait for a heartbeat (up to 30 s) and the test fails.

The group does not track the agent and the cluster has no connection sync: both are tests/lab/test_lab_ha.py's
(with in-process agents). Here four agent processes share the emulated CPUs with everything else; on a loaded
machine keepalived's track script (a shell every second, 2 s timeout) timed out and both directors went to
fault, which measures the machine, not the console.

Then: History (the cluster's audit export, as the page offers it) has the failover with its cause and ha1's
release; the API's /api/clusters/ha/ha/ and /api/director-roles/ say ha2 holds the VIP; the VIP still answers.

Runs on this machine with the lab's prerequisites (one VM boot; 12-17 minutes on a loaded machine):

    DATABASE_URL=postgres://... REDIS_URL=redis://127.0.0.1:6379/N .venv/bin/pytest -m lab \\
        tests/lab_fullstack/test_fullstack_ha.py -s
"""

from __future__ import annotations

import json
import re
import time
import uuid
from datetime import datetime

import pytest
import redis
import requests
from django.conf import settings as django_settings

from accounts.actions import create_api_token
from tests.dispatch.broker import purge
from tests.factories import make_member, make_team, make_user
from tests.lab_fullstack.stack import (
    Console,
    PageSocket,
    console_env,
    guest_broker_url,
    lab_missing,
    session_cookie,
    start_console,
    start_guest,
    wait_finished,
    wait_for,
)
from tests.lab_fullstack.test_fullstack import unavailable

pytestmark = [pytest.mark.lab, pytest.mark.django_db(transaction=True)]

DIRECTORS = {"ha1": ("10.10.0.3", 150), "ha2": ("10.10.0.4", 100)}
REAL_SERVERS = {"rs1": "10.20.0.11", "rs2": "10.20.0.12"}
HOSTS = (*DIRECTORS, *REAL_SERVERS)
QUEUES = ("control", *(f"lvsweb.host.{host}" for host in HOSTS))
HA_VIP, ECHO_PORT = "10.10.0.150", 9000  # tests/lab/hanet.py
HEARTBEAT = 30  # seconds: far above the bound, so that only the `ha` report's push can meet it
BOUND = 2.0  # the issue's: the console shows the change within 2 s of the VRRP transition
#: ha2's agent's cause for its takeover (agents/lvsweb_agent/ha.py transition_cause)
SILENT = "the master went silent or gave up the VIP (no advert for 3 × advert_int, or priority 0)"


@pytest.fixture
def ha_stack(tmp_path, settings):
    """daphne and a control worker; yields (Console of an owner of team "lab", the owner, forward settings,
    the processes)."""
    missing = lab_missing()
    if missing:
        unavailable(f"missing {missing}")
    try:
        agent_broker_url, redis_port = guest_broker_url(django_settings.REDIS_URL)
    except ValueError as exc:
        unavailable(str(exc))
    settings.AGENT_HEARTBEAT_INTERVAL = HEARTBEAT
    purge(*QUEUES)
    port, services = start_console(console_env(agent_broker_url, HEARTBEAT), tmp_path, "fullstack-ha-control")
    try:
        user = make_user(staff=False)
        make_member(user, team=make_team(name="Lab", slug="lab"), role="owner")
        _, key = create_api_token(acting_user=None, user=user, name="full-stack HA lab test")
        forward = (agent_broker_url, redis_port, f"lvsweb:fullstack-ha:{uuid.uuid4().hex}")
        yield Console(f"http://127.0.0.1:{port}", key), user, forward, services
    finally:
        for service in reversed(services):
            service.stop()
        purge(*QUEUES)


def ha_events(page: PageSocket, since: int = 0) -> list[tuple[float, dict]]:
    return [(at, event) for at, event in page.seen()[since:] if event.get("type") == "ha" and event["group"] == "web"]


def roles(event: dict) -> dict[str, dict]:
    return {role["host"]: role for role in event["roles"]}


def test_the_console_shows_the_new_active_director_within_2_s_of_the_vrrp_transition(ha_stack, tmp_path):
    console, user, (agent_broker_url, redis_port, key), services = ha_stack
    broker = redis.Redis.from_url(django_settings.REDIS_URL, socket_timeout=30)

    # -- the inventory, through the API: two directors in one VIP group, TUN real servers ------------------------
    console.post("clusters/", team="lab", name="ha", slug="ha", drain_timeout=10)
    hosts = {}
    for host, (address, _) in DIRECTORS.items():
        hosts[host] = console.post(
            "hosts/", team="lab", hostname=host, management_address=address, uplinks="eth0", vip_interface="eth0"
        )
    for host, address in REAL_SERVERS.items():
        hosts[host] = console.post("hosts/", team="lab", hostname=host, management_address=address, uplinks="eth0")
    for host, (_, priority) in DIRECTORS.items():
        console.post("cluster-hosts/", cluster="ha", host=host, role="director", vrrp_priority=priority)
    for host in REAL_SERVERS:
        console.post("cluster-hosts/", cluster="ha", host=host, role="real_server")
    group = console.post("vip-groups/", cluster="ha", name="web", vrid=51, advert_int=1, track_agent=False)
    service = console.post(
        "virtual-services/",
        cluster="ha",
        protocol="tcp",
        address=HA_VIP,
        port=ECHO_PORT,
        scheduler="rr",
        forward_method="tun",
        vip_group=group["id"],
    )
    for host, address in REAL_SERVERS.items():
        console.post("real-servers/", virtual_service=service["id"], address=address, weight=1, host=host)
    tokens = {host: console.post(f"hosts/{hosts[host]['id']}/enrollment-token/")["token"] for host in HOSTS}

    # -- the lab VM: lab network plus ha1/ha2, enrollment, four agents ------------------------------------------
    broker.set(f"{key}:tokens", json.dumps(tokens), ex=3600)
    guest = start_guest(
        "tests/lab_fullstack/guest.py",
        broker=broker,
        agent_broker_url=agent_broker_url,
        redis_port=redis_port,
        console_port=int(console.base.rsplit(":", 1)[1]),
        key=key,
        logs=tmp_path,
        topology="ha",
    )
    vm = guest.vm
    started = time.monotonic()
    page: PageSocket | None = None

    def explain() -> str:
        seen = "\n".join(f"{at:.3f} {json.dumps(event)}" for at, event in (page.seen() if page else [])[-10:])
        logs = [guest.agent_logs(), *(service.output() for service in services)]
        return "\n".join([f"--- page socket, last events:\n{seen}", *logs])

    try:
        assert guest.answer(timeout=900) == "ready"  # booted, topology built, enrolled, agents started
        wait_for(
            lambda: all(h["agent_status"] == "online" for h in console.hosts().values()),
            400,
            "four agents online (heartbeats through the forwarded Redis)",
            explain,
            interval=2,
        )
        print(f"agents online after {time.monotonic() - started:.0f} s")

        # -- a signed-in member's cluster page, and its websocket as ha.js opens it ------------------------------
        cookie = session_cookie(user)
        html = requests.get(f"{console.base}/clusters/ha/", cookies={"sessionid": cookie}, timeout=30).text
        path = re.search(r'<section class="ha" id="ha"[^>]* data-websocket="([^"]+)"', html)
        assert path is not None, "the cluster page has no live HA section"
        page = PageSocket(console.base, path.group(1), cookie)
        page.open()

        # -- apply: ha1 becomes active, and the page is told --------------------------------------------------
        revision = console.post("clusters/ha/apply/", expect=202)
        wait_finished(console, revision["deployments"], explain)
        wait_for(lambda: guest.ask("holder") == "ha1", 60, "ha1 to hold the VIP in the VM", explain)

        def page_shows_ha1_active():
            events = ha_events(page)
            if not events:
                return False
            last = events[-1][1]
            states = {host: role["state"] for host, role in roles(last).items()}
            return last["holders"] == ["ha1"] and states == {"ha1": "master", "ha2": "backup"}

        wait_for(page_shows_ha1_active, 60, "the page to show ha1 active and ha2 backup", explain, interval=0.2)
        answers = guest.ask("greet", count=4)
        assert sorted(set(answers)) == ["rs1", "rs2"], answers  # the VIP answers, through ha1
        print(f"ha1 active on the page after {time.monotonic() - started:.0f} s")

        # -- ha1's keepalived stopped in the VM: when does the page show ha2 active? -----------------------------
        mark = len(page.seen())
        failover = guest.ask("failover", timeout=120, **{"from": "ha1", "to": "ha2", "how": "keepalived"})
        assert failover["holder"] == "ha2", failover

        def ha2_alone(event: dict) -> bool:
            return event.get("type") == "ha" and event["group"] == "web" and event["holders"] == ["ha2"]

        shown = page.first(ha2_alone, since=mark, timeout=90)
        assert shown is not None, f"the page was never told that ha2 holds the VIP\n{failover}\n{explain()}"
        received, event = shown
        delay = received - failover["before"]
        active = page.first(
            lambda e: e.get("type") == "ha" and roles(e).get("ha2", {}).get("state") == "master", since=mark
        )
        assert active is not None
        shown_roles = roles(event)
        # Pushed by ha2's own report, not by a heartbeat, and the page can say why.
        assert shown_roles["ha2"]["state"] == "master" and shown_roles["ha2"]["current"], event
        assert shown_roles["ha2"]["cause"] == SILENT, event
        assert shown_roles["ha1"]["state"] == "stop" and shown_roles["ha1"]["cause"] == "keepalived stopped", event
        assert event["warning"] == "", event

        # -- the API and History say the same -------------------------------------------------------------------
        [status] = console.get("clusters/ha/ha/")
        assert status["holders"] == ["ha2"] and status["warning"] == "", status
        director_roles = console.get("director-roles/?cluster=ha")["results"]
        assert {r["host"]: r["state"] for r in director_roles} == {"ha1": "stop", "ha2": "master"}, director_roles
        history = requests.get(
            f"{console.base}/clusters/ha/history/?export=json", cookies={"sessionid": cookie}, timeout=30
        )
        assert history.status_code == 200, history.text[:500]
        entries = history.json()
        failovers = [e for e in entries if e["action"] == "ha.failover" and "ha2 took" in e["message"]]
        assert len(failovers) == 1, entries
        # "from ha1" even when ha1's release reached the console first (dispatch/actions/ha.py _last_holder)
        assert failovers[0]["message"] == f"failover: ha2 took VIP group web from ha1: {SILENT}", failovers
        releases = [e["message"] for e in entries if e["action"] == "ha.release" and e["message"].startswith("ha1 ")]
        assert releases and releases[-1].endswith(": keepalived stopped"), entries
        answers = guest.ask("greet", count=4)
        assert sorted(set(answers)) == ["rs1", "rs2"], answers  # the VIP answers, now through ha2

        # -- the measurement: where the time went, then the bound ---------------------------------------
        recorded = datetime.fromisoformat(failovers[0]["occurred_at"]).timestamp()  # the control worker's clock
        notified = failover["notify_at"]
        print(
            f"VRRP takeover {failover['takeover']:.2f} s after keepalived stopped on ha1 (VIP seen on ha2 within "
            f"{failover['after'] - failover['before']:.3f} s; clocks ± {failover['uncertainty'] * 1000:.1f} ms). "
            f"After the transition: keepalived's notify hook on ha2 "
            f"{'+%.2f s' % (notified - failover['before']) if notified else 'not seen'}, the console recorded "
            f"ha2's report +{recorded - failover['before']:.2f} s, the page showed ha2 active "
            f"+{active[0] - failover['before']:.2f} s and as the sole holder +{delay:.2f} s"
        )
        assert delay + failover["uncertainty"] <= BOUND, (
            f"the page showed ha2 active {delay:.2f} s (± {failover['uncertainty']:.3f}) after the VRRP transition, "
            f"more than {BOUND} s\n{failover}\n{explain()}"
        )

        assert guest.ask("quit") == "bye"
        vm.process.wait(timeout=180)
        assert vm.process.returncode == 0, vm.output()
        print(f"full-stack HA scenario: {time.monotonic() - started:.0f} s with the VM")
    finally:
        if page is not None:
            page.close()
        vm.stop(timeout=60)
        guest.forget()
