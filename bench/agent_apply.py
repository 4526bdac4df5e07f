"""Agent apply vs ipvsadm-restore, and a no-op reconcile vs `ipvsadm -Sn`, on a real kernel.

Runs inside the lab VM as root (it creates and deletes a network namespace):

    scripts/lab/vm-run python bench/agent_apply.py                 # 100, 1000, 5000 services x 10
    scripts/lab/vm-run python bench/agent_apply.py --sizes 100,1000 --json /tmp/bench.json

For each size, in one long-lived process and a fresh namespace: the agent's apply from an empty table,
a no-op reconcile, one weight change; then, after a flush, `ipvsadm-restore` loading the same rules
(the text is the agent's own `ipvsadm-save` rendering of the document) and `ipvsadm -Sn` dumping them.
The ipvsadm commands run in the namespace (the child enters it before exec, no `ip netns exec`).
The no-op reconcile alternates with `ipvsadm -Sn`, each change with its ipvsadm command, so both sides
of a ratio run under the same load. `--only noop,delta` measures only those parts (the apply always
runs: it loads the table). Results are printed as a table; see docs/performance.md.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from lvsweb_agent.agent import Agent
from lvsweb_agent.document import parse_document
from lvsweb_agent.ipvsadm import render_save
from lvsweb_agent.planner import plan
from pyroute2 import netns as pyroute2_netns

NETNS = "lvsweb-bench"


def document(services: int, dests: int, revision: int = 1) -> dict:
    """`services` TCP services on distinct VIPs, each with `dests` tunnel-mode real servers."""
    return {
        "version": 1,
        "host": "bench",
        "revision": revision,
        "director": {
            "owns_ipvs_table": True,
            "drain_timeout": 0,
            "services": [
                {
                    "protocol": "tcp",
                    "address": f"10.100.{i // 250}.{i % 250 + 1}",
                    "port": 80,
                    "scheduler": "wlc",
                    "real_servers": [
                        {"address": f"10.20.{j}.{i % 250 + 1}", "port": 80, "weight": 1, "forward": "tun"}
                        for j in range(dests)
                    ],
                }
                for i in range(services)
            ],
        },
    }


def run(*argv: str, stdin: str | None = None) -> float:
    """Seconds taken by a command inside the bench namespace (the child enters it before exec, as
    `ip netns exec` would, without timing a second program's start-up)."""
    start = time.perf_counter()
    subprocess.run(list(argv), input=stdin, text=True, check=True, stdout=subprocess.PIPE, preexec_fn=_enter)
    return time.perf_counter() - start


def _enter() -> None:
    fd = os.open(f"/var/run/netns/{NETNS}", os.O_RDONLY)
    pyroute2_netns.setns(fd)


def output(*argv: str) -> str:
    return subprocess.run(list(argv), text=True, check=True, stdout=subprocess.PIPE, preexec_fn=_enter).stdout


def setup_namespace() -> None:
    subprocess.run(["ip", "netns", "del", NETNS], stderr=subprocess.DEVNULL, check=False)
    for argv in (
        ["ip", "netns", "add", NETNS],
        ["ip", "-n", NETNS, "link", "set", "lo", "up"],
        ["ip", "-n", NETNS, "link", "add", "eth0", "type", "dummy"],
        ["ip", "-n", NETNS, "link", "set", "eth0", "up"],
        # Real servers must be routable or the kernel refuses them (EINVAL).
        ["ip", "-n", NETNS, "addr", "add", "10.0.0.1/8", "dev", "eth0"],
    ):
        subprocess.run(argv, check=True)


def timed(function, *args, **kwargs):
    start = time.perf_counter()
    result = function(*args, **kwargs)
    return time.perf_counter() - start, result


def changed(doc: dict, revision: int, weight: int | None = None, add: bool = False, remove: bool = False) -> dict:
    """`doc` with one change to the real servers of its middle service (a new revision); `doc` is changed."""
    doc["revision"] = revision
    dests = doc["director"]["services"][len(doc["director"]["services"]) // 2]["real_servers"]
    if weight is not None:
        dests[3]["weight"] = weight
    if add:
        dests.append({"address": "10.30.0.1", "port": 80, "weight": 1, "forward": "tun"})
    if remove:
        dests[:] = [dest for dest in dests if dest["address"] != "10.30.0.1"]
    return copy.deepcopy(doc)


PARTS = ("apply", "noop", "full", "delta", "cli", "restore")


def bench(services: int, dests: int, repeat: int = 3, parts: tuple[str, ...] = PARTS, profile: str = "") -> dict:
    doc = document(services, dests)
    objects = services * (dests + 1)
    middle = doc["director"]["services"][services // 2]
    vip = f"{middle['address']}:80"
    run("ipvsadm", "-C")
    root = tempfile.mkdtemp(prefix="lvsweb-bench-")
    revision = [1]
    current = copy.deepcopy(doc)
    row: dict = {"services": services, "real_servers": services * dests}

    def next_doc(**change) -> dict:
        revision[0] += 1
        return changed(current, revision[0], **change)

    try:
        with Agent(root=root, netns=NETNS) as agent:
            apply_s, result = timed(agent.apply, doc)
            assert result.ok, result.error
            ipvs_ops = [op for op in result.applied if op.service is not None]
            assert len(ipvs_ops) == objects, len(ipvs_ops)
            row["agent_apply_s"] = round(apply_s, 3)
            if "noop" in parts:
                # Interleaved with `ipvsadm -Sn` of the same table, best of each: the emulated CPU is shared
                # and noisy, and both sides of the ratio see the same load this way.
                noop_s = save_s = float("inf")
                for _ in range(repeat):
                    seconds, result = timed(agent.reconcile)
                    assert result.ok and result.plan.empty, str(result.plan)[:500]
                    noop_s = min(noop_s, seconds)
                    save_s = min(save_s, run("ipvsadm", "-Sn"))
                if profile:
                    import cProfile
                    import pstats

                    profiler = cProfile.Profile()
                    profiler.runcall(agent.reconcile)
                    profiler.dump_stats(f"{profile}.{services}")
                    pstats.Stats(profiler).sort_stats("tottime").print_stats(25)
                row.update(
                    agent_noop_reconcile_s=round(noop_s, 3),
                    ipvsadm_Sn_s=round(save_s, 3),
                    noop_ratio=round(noop_s / save_s, 2),
                )
            if "full" in parts:
                # Before the delta: one weight change the full way (validate + parse, dump, plan, one request).
                heavier = next_doc(weight=5)
                parse_s, desired = timed(parse_document, heavier)
                read_s, actual = timed(agent.kernel.read, desired)
                plan_s, _ = timed(plan, desired, actual, agent.ledger())
                full_weight_s, result = timed(agent._apply_full, heavier, False, time.time())
                assert result.ok and [op.kind for op in result.applied] == ["edit-dest"], str(result.plan)[:500]
                row["full_weight_change_s"] = round(full_weight_s, 3)
                row["full_weight_phases_s"] = {
                    "validate_parse": round(parse_s, 3),
                    "read": round(read_s, 3),
                    "plan": round(plan_s, 3),
                }
            if "delta" in parts:
                # The delta (validate and plan the changed service, one request, the state file), each change
                # interleaved with the ipvsadm command doing the same (to the same service, then undone).
                dest = "10.20.3." + middle["address"].rsplit(".", 1)[1]
                commands = {
                    "weight": lambda n: ("ipvsadm", "-e", "-t", vip, "-r", f"{dest}:80", "-i", "-w", str(20 + n)),
                    "add": lambda n: ("ipvsadm", "-a", "-t", vip, "-r", "10.30.0.9:80", "-i", "-w", "1"),
                    "remove": lambda n: ("ipvsadm", "-d", "-t", vip, "-r", "10.30.0.9:80"),
                }
                undo_ipvsadm = {
                    "add": ("ipvsadm", "-d", "-t", vip, "-r", "10.30.0.9:80"),
                    "remove": ("ipvsadm", "-a", "-t", vip, "-r", "10.30.0.9:80", "-i", "-w", "1"),
                }
                for name, change in (("weight", {"weight": 6}), ("add", {"add": True}), ("remove", {"remove": True})):
                    times, references = [], []
                    for attempt in range(repeat):
                        if attempt:  # undo, so the same change can be timed again
                            undo = {"weight": {"weight": 5}, "add": {"remove": True}, "remove": {"add": True}}
                            assert agent.apply(next_doc(**undo[name])).ok
                            change = {"weight": {"weight": 6 + attempt}}.get(name, change)
                        seconds, result = timed(agent.apply, next_doc(**change))
                        assert result.ok and agent.last_mode == "delta" and len(result.applied) == 1, str(result.plan)
                        times.append(seconds)
                        if name == "remove":
                            run(*undo_ipvsadm["remove"])
                        references.append(run(*commands[name](attempt)))
                        if name == "add":
                            run(*undo_ipvsadm["add"])
                        if name == "weight":
                            run("ipvsadm", "-e", "-t", vip, "-r", f"{dest}:80", "-i", "-w", str(6 + attempt))
                    best, reference_s = min(times), min(references)
                    flag = {"weight": "e", "add": "a", "remove": "d"}[name]
                    label = {"weight": "weight_change_s", "add": "add_dest_s", "remove": "remove_dest_s"}[name]
                    row[label] = round(best, 4)
                    row[f"ipvsadm_{flag}_s"] = round(reference_s, 4)
                    row[f"{name}_ratio"] = round(best / reference_s, 2)
                assert agent.apply(next_doc(weight=5)).ok
                if profile:
                    import cProfile
                    import pstats

                    profiler = cProfile.Profile()
                    result = profiler.runcall(agent.apply, next_doc(weight=7))
                    assert result.ok and agent.last_mode == "delta"
                    profiler.dump_stats(f"{profile}.delta.{services}")
                    pstats.Stats(profiler).sort_stats("cumulative").print_stats(30)
            dump_s, agent_text = timed(agent.show_ipvsadm)
            assert agent_text == output("ipvsadm", "-Sn"), "show --ipvsadm differs from ipvsadm -Sn"
            row["agent_dump_s"] = round(dump_s, 3)
        if "cli" in parts:
            # The agent as a process, as an operator runs it: `lvsweb-agent apply FILE` (Python start-up,
            # imports, reading the file and the state, the delta).
            path = Path(root) / "doc.json"
            cli_s = float("inf")
            for attempt in range(repeat):
                path.write_text(json.dumps(next_doc(weight=9 + attempt)))
                cli_s = min(cli_s, run(sys.executable, "-m", "lvsweb_agent.cli", "--root", root, "apply", str(path)))
            python_s = min(run(sys.executable, "-c", "pass") for _ in range(repeat))
            row["cli_weight_change_s"] = round(cli_s, 3)
            row["python_startup_s"] = round(python_s, 3)
            if "ipvsadm_e_s" in row:
                row["cli_weight_ratio"] = round((cli_s) / row["ipvsadm_e_s"], 2)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    if "restore" in parts:
        text = render_save(parse_document(doc).director.services)
        run("ipvsadm", "-C")
        restore_s = run("ipvsadm-restore", stdin=text)
        assert output("ipvsadm", "-Sn") == text, "ipvsadm-restore loaded something else"
        row["ipvsadm_restore_s"] = round(restore_s, 3)
        row["apply_ratio"] = round(apply_s / restore_s, 2)
    run("ipvsadm", "-C")
    return row


def _cell(row: dict, name: str, fmt: str = "{:.2f} s", scale: float = 1) -> str:
    return fmt.format(row[name] * scale) if name in row else "—"


def table(rows: list[dict]) -> str:
    header = (
        "| services x real servers | agent apply | ipvsadm-restore | ratio | no-op reconcile | ipvsadm -Sn "
        "| ratio | agent dump only |"
    )
    lines = [header, "|" + "---|" * 8]
    for row in rows:
        lines.append(
            f"| {row['services']} x {row['real_servers'] // row['services']} | {_cell(row, 'agent_apply_s')} "
            f"| {_cell(row, 'ipvsadm_restore_s')} | {_cell(row, 'apply_ratio', '{:.2f}x')} "
            f"| {_cell(row, 'agent_noop_reconcile_s')} | {_cell(row, 'ipvsadm_Sn_s')} "
            f"| {_cell(row, 'noop_ratio', '{:.2f}x')} | {_cell(row, 'agent_dump_s')} |"
        )
    lines += [
        "",
        "| services x real servers | one weight change (full way: parse / read / plan) | delta | ipvsadm -e | ratio "
        "| add one real server | ipvsadm -a | ratio | remove one | ipvsadm -d | ratio "
        "| `lvsweb-agent apply` process | ratio to ipvsadm -e | python start-up |",
        "|" + "---|" * 14,
    ]
    ms = "{:.0f} ms"
    for row in rows:
        phases = row.get("full_weight_phases_s")
        full = _cell(row, "full_weight_change_s")
        if phases:
            full += f" ({phases['validate_parse']:.2f} / {phases['read']:.2f} / {phases['plan']:.2f})"
        lines.append(
            f"| {row['services']} x {row['real_servers'] // row['services']} | {full} "
            f"| {_cell(row, 'weight_change_s', ms, 1000)} | {_cell(row, 'ipvsadm_e_s', ms, 1000)} "
            f"| {_cell(row, 'weight_ratio', '{:.2f}x')} | {_cell(row, 'add_dest_s', ms, 1000)} "
            f"| {_cell(row, 'ipvsadm_a_s', ms, 1000)} | {_cell(row, 'add_ratio', '{:.2f}x')} "
            f"| {_cell(row, 'remove_dest_s', ms, 1000)} | {_cell(row, 'ipvsadm_d_s', ms, 1000)} "
            f"| {_cell(row, 'remove_ratio', '{:.2f}x')} | {_cell(row, 'cli_weight_change_s')} "
            f"| {_cell(row, 'cli_weight_ratio', '{:.2f}x')} | {_cell(row, 'python_startup_s')} |"
        )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100,1000,5000", help="numbers of services, comma-separated")
    parser.add_argument("--dests", type=int, default=10, help="real servers per service")
    parser.add_argument("--repeat", type=int, default=3, help="no-op reconcile and ipvsadm -Sn: best of N")
    parser.add_argument("--json", help="also write the rows as JSON to this file")
    parser.add_argument(
        "--only",
        default=",".join(PARTS),
        help=f"parts to measure, comma-separated, of {','.join(PARTS)} (the apply always runs: it loads the table)",
    )
    parser.add_argument(
        "--profile",
        default="",
        help="cProfile one more no-op reconcile (FILE.<services>) and one more weight delta (FILE.delta.<services>)",
    )
    args = parser.parse_args()
    load = os.getloadavg()
    print(f"load average (1/5/15 min) at start: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}", flush=True)
    if os.geteuid() != 0:
        print("agent_apply.py: run it as root inside the lab VM (scripts/lab/vm-run)", file=sys.stderr)
        return 2
    parts = tuple(part for part in args.only.split(",") if part)
    unknown = set(parts) - set(PARTS)
    if unknown:
        parser.error(f"--only: unknown parts {', '.join(sorted(unknown))}")
    setup_namespace()
    rows = []
    try:
        for size in (int(part) for part in args.sizes.split(",")):
            rows.append(bench(size, args.dests, args.repeat, parts, args.profile))
            print(json.dumps(rows[-1]), flush=True)
    finally:
        subprocess.run(["ip", "netns", "del", NETNS], check=False)
    print(table(rows))
    load = os.getloadavg()
    print(f"load average (1/5/15 min) at the end: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
