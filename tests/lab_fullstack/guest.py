"""The lab VM's side of the full-stack test (test_fullstack.py boots the VM with `scripts/lab/vm-run` on this).

It builds the lab topology (tests/lab/labnet.py), enrolls the director, rs1 and rs2 with the console on the
host (http://10.0.2.100:8000, a restricted qemu forward), starts one `lvsweb-agent --netns HOST run` process per
host, then serves the host test's requests until it says "quit". Requests and answers travel through the same
Redis the agents use (the VM's only other way out, 10.0.2.100:6379): JSON on two lists, nothing else.

Only the hosts the tokens name are enrolled and get an agent (bench/apply_latency.py runs the director alone).
With LVSWEB_FULLSTACK_TOPOLOGY=ha (test_fullstack_ha.py) the two HA directors ha1 and ha2 of tests/lab/hanet.py
are added to the lab network before the hosts are enrolled (and the real servers' echo servers started).

Requests (`{"op": ...}`): `fetch` (`count` HTTP requests from the client namespace to the VIP: the answers),
`ipvsadm` (`args`, run in the director's namespace: its output), `origin` (each agent's command line and
whether its virtualenv imports Django), `stop` (`host`: SIGTERM its agent, wait for
it), `logs` (every agent's log and exit code), `quit`; for the benchmark, `watch` (observe the director's IPVS
table until it matches; two answers, see observer.py), `timed` (`args`, optional `stdin`: seconds an ipvsadm
command takes in the director's namespace, process start-up subtracted).
With the HA topology: `holder` (which of ha1/ha2 holds the HA VIP), `greet` (`count` connections from the client
to the HA VIP: each real server's greeting), `failover` (see `failover`).

The alert stage adds `web` (`host`, `running`: stop or start that real server's web server; the answer says
whether it answers on its address afterwards).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import traceback
from pathlib import Path

CONSOLE = "http://10.0.2.100:8000"
WORKDIR = Path("/tmp/lvsweb-fullstack")

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "lab"))


def main() -> int:
    import redis

    broker = redis.Redis.from_url(os.environ["LVSWEB_FULLSTACK_BROKER"], socket_timeout=60)
    key = os.environ["LVSWEB_FULLSTACK_KEY"]

    def answer(message: dict) -> None:
        broker.rpush(f"{key}:answers", json.dumps(message))

    agents: dict[str, subprocess.Popen] = {}
    try:
        topology = os.environ.get("LVSWEB_FULLSTACK_TOPOLOGY", "")
        lab = start(json.loads(broker.get(f"{key}:tokens")), agents, topology)
        answer({"ok": True, "result": "ready"})
        serve(broker, key, answer, lab, agents)
        return 0
    except Exception:
        answer({"ok": False, "error": traceback.format_exc(), "logs": logs(agents)})
        return 1
    finally:
        for process in agents.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in agents.values():
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()


def start(tokens: dict[str, str], agents: dict[str, subprocess.Popen], topology: str = ""):
    """Build the topology, enroll every host, start its agent (into AGENTS); returns the Lab (with topology
    "ha": the HaNet, which also looks up the lab's hosts)."""
    from labnet import Lab
    from lvsweb_agent.cli import main as agent_cli

    lab = Lab(WORKDIR / "lab")
    lab.build()
    if topology == "ha":
        from hanet import HaNet

        lab = HaNet(lab, WORKDIR / "ha")
        lab.build()
    elif topology:
        raise ValueError(f"unknown topology {topology!r}")
    for host in tokens:
        root = WORKDIR / host
        root.mkdir(parents=True, exist_ok=True)
        config = str(root / "agent.json")
        # In this process: every Python start costs 15-60 s under emulation.
        arguments = ["--netns", host, "enroll", "--server", CONSOLE, "--token", tokens[host], "--config", config]
        arguments += ["--root", str(root), "--timeout", "120"]
        code = agent_cli(arguments)
        if code != 0:
            raise RuntimeError(f"lvsweb-agent enroll for {host} exited {code}")
        # The agents live in the VM's own namespace (the only one with a way to the broker) and act on
        # their host's namespace through --netns.
        with open(WORKDIR / f"{host}.log", "wb") as log:
            agents[host] = subprocess.Popen(
                [agent_program(), "--netns", host, "run", "--config", config, "--loglevel", "INFO"],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
    return lab


def agent_program() -> str:
    """The installed agent (LVSWEB_AGENT_VENV, built from the wheel by stack.agent_venv), else the PATH's."""
    venv = os.environ.get("LVSWEB_AGENT_VENV")
    return f"{venv}/bin/lvsweb-agent" if venv else "lvsweb-agent"


def origin(agents: dict[str, subprocess.Popen]) -> dict:
    """What each agent process runs (its command line), and what its virtualenv's Python can import."""
    cmdlines = {
        host: Path(f"/proc/{process.pid}/cmdline").read_bytes().decode().split("\0")[:-1]
        for host, process in agents.items()
    }
    probe = "import lvsweb_agent\nprint(lvsweb_agent.__file__)\n"
    probe += "try:\n import django\nexcept ImportError:\n print('no django')"
    python = str(Path(agent_program()).parent / "python")
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    done = subprocess.run([python, "-c", probe], capture_output=True, text=True, timeout=300, cwd="/", env=env)
    return {"cmdlines": cmdlines, "probe": done.stdout.splitlines(), "stderr": done.stderr}


def web_server(lab, host: str, running: bool) -> bool:
    """Stop or start HOST's web server (the busybox httpd labnet started); whether it answers afterwards."""
    from labnet import inside

    server, www = lab[host], lab.workdir / "www" / host
    mine = [process for process in lab.servers if str(www) in process.args and process.poll() is None]
    if not running:
        for process in mine:
            process.terminate()
            process.wait(timeout=30)
            lab.servers.remove(process)
        return lab["router"].http_get(server.address, server.http_port, timeout=1) == host
    if not mine:
        with inside(host):
            command = ["busybox", "httpd", "-f", "-p", str(server.http_port), "-h", str(www)]
            lab.servers.append(subprocess.Popen(command))
    deadline = time.monotonic() + 30
    while lab["router"].http_get(server.address, server.http_port, timeout=1) != host:
        if time.monotonic() > deadline:
            return False
        time.sleep(0.2)
    return True


def logs(agents: dict[str, subprocess.Popen]) -> dict[str, str]:
    result = {}
    for host, process in agents.items():
        path = WORKDIR / f"{host}.log"
        text = path.read_text(errors="replace")[-6000:] if path.exists() else ""
        result[host] = f"[exit code {process.poll()}]\n{text}"
    return result


def serve(broker, key: str, answer, lab, agents: dict[str, subprocess.Popen]) -> None:
    while True:
        item = broker.blpop([f"{key}:requests"], timeout=10)
        if item is None:
            continue
        request = json.loads(item[1])
        op = request["op"]
        try:
            if op == "quit":
                answer({"ok": True, "result": "bye"})
                return
            if op == "fetch":
                result = lab["client"].fetch(int(request["count"]))
            elif op == "ipvsadm":
                result = lab["director"].run("ipvsadm", *map(str, request["args"]))
            elif op == "stop":
                process = agents[request["host"]]
                process.send_signal(signal.SIGTERM)
                process.wait(timeout=60)
                result = process.returncode
            elif op == "web":
                result = web_server(lab, request["host"], bool(request["running"]))
            elif op == "logs":
                result = logs(agents)
            elif op == "origin":
                result = origin(agents)
            elif op == "watch":
                from tests.lab_fullstack.observer import watch

                result = watch(request, broker, answer)
            elif op == "holder":
                result = lab.holder()
            elif op == "greet":
                result = greet(lab["client"], int(request["count"]))
            elif op == "failover":
                result = failover(lab, broker, request)
            elif op == "timed":
                from tests.lab_fullstack.observer import timed

                result = timed(lab["director"], request["args"], request.get("stdin"))
            else:
                raise ValueError(f"unknown request {op!r}")
            answer({"ok": True, "result": result, "at": time.time()})
        except Exception:
            answer({"ok": False, "error": traceback.format_exc()})


def greet(client, count: int) -> list[str]:
    """COUNT connections from CLIENT to the HA VIP's echo service, one after another: each greeting (the real
    server's name), or the error."""
    import socket

    from hanet import ECHO_PORT, HA_VIP
    from labnet import inside

    answers = []
    for _ in range(count):
        try:
            with inside(client.name):
                sock = socket.create_connection((HA_VIP, ECHO_PORT), timeout=10)
            with sock:
                answers.append(sock.recv(64).decode().strip())
        except OSError as exc:
            answers.append(f"{type(exc).__name__}: {exc}")
    return answers


def failover(net, broker, request: dict) -> dict:
    """Fail director `from` (`how`: "keepalived", its keepalived stopped with SIGTERM as the lab test does, or
    "uplink", its eth0 taken down) and watch the VIP until director `to` holds it.

    The VRRP transition is timed here, in the VM: `to` holding the VIP (a socket bound to the VIP in its
    namespace, polled every POLL s) is what the transition does first (keepalived adds the VIP, then runs its
    notify hook). `before` is the start of the last poll that did not see it: the transition came after it
    (an early bound, so a delay measured from it is never too short); `after` the end of the first poll that
    did. The times are turned into this machine's clock with the offset from Redis TIME (observer.clock_offset,
    ± `uncertainty`), measured right after. `notify_at` is keepalived's notify hook's time for `to` (what the
    agent's `ha` report says as `at`), `takeover` the seconds from the stop to `after` (VM clock only).
    """
    from lvsweb_agent import keepalived
    from lvsweb_agent.hastate import read_vrrp_states

    from tests.lab_fullstack.observer import clock_offset

    old, new, how = request["from"], request["to"], request.get("how", "keepalived")
    timeout = float(request.get("timeout", 30))
    if net.holder() != old:
        raise RuntimeError(f"before the failover the VIP is held by {net.holder()}, not {old} alone")
    pid = keepalived.running_pid(keepalived.ha_dir(WORKDIR / old))
    if pid is None:
        raise RuntimeError(f"{old}'s keepalived is not running")
    commanded = time.time()
    if how == "keepalived":
        os.kill(pid, signal.SIGTERM)
    elif how == "uplink":
        net.uplink(old, up=False)
    else:
        raise ValueError(f"unknown way to fail a director {how!r}")
    before = commanded
    while True:
        began = time.time()
        if net.holds(new):
            after = time.time()
            break
        before = began
        if began - commanded > timeout:
            raise TimeoutError(f"{new} did not take the VIP within {timeout:.0f} s (holder: {net.holder()})")
        time.sleep(POLL)
    offset, uncertainty = clock_offset(broker)
    state = None
    for _ in range(100):  # the notify hook runs after keepalived added the VIP
        state = read_vrrp_states(keepalived.ha_dir(WORKDIR / new)).get(request.get("instance", "web"))
        if state is not None and state.state == "master":
            break
        time.sleep(POLL)
    return {
        "commanded": commanded + offset,
        "before": before + offset,
        "after": after + offset,
        "takeover": after - commanded,
        "uncertainty": uncertainty,
        "notify_at": state.since + offset if state is not None and state.state == "master" else None,
        "holder": net.holder(),
    }


POLL = 0.02  # seconds between looks at the VIP during a failover


if __name__ == "__main__":
    sys.exit(main())
