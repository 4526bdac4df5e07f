"""Agent apply vs ipvsadm-restore, and a no-op reconcile vs `ipvsadm -Sn`, on a real kernel.

Runs inside the lab VM as root (it creates and deletes a network namespace):

    scripts/lab/vm-run python bench/agent_apply.py                 # 100, 1000, 5000 services x 10
    scripts/lab/vm-run python bench/agent_apply.py --sizes 100,1000 --json /tmp/bench.json

For each size, in one long-lived process and a fresh namespace: the agent's apply from an empty table,
a no-op reconcile, one weight change; then, after a flush, `ipvsadm-restore` loading the same rules
(the text is the agent's own `ipvsadm-save` rendering of the document) and `ipvsadm -Sn` dumping them.
The ipvsadm commands run through `ip netns exec`; its own start-up time (measured with `true`) is
subtracted. Results are printed as a table; see docs/performance.md.
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
    """Seconds taken by a command inside the bench namespace."""
    start = time.perf_counter()
    subprocess.run(["ip", "netns", "exec", NETNS, *argv], input=stdin, text=True, check=True, stdout=subprocess.PIPE)
    return time.perf_counter() - start


def output(*argv: str) -> str:
    return subprocess.run(["ip", "netns", "exec", NETNS, *argv], text=True, check=True, stdout=subprocess.PIPE).stdout


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


def bench(services: int, dests: int, repeat: int = 3) -> dict:
    doc = document(services, dests)
    objects = services * (dests + 1)
    run("ipvsadm", "-C")
    root = tempfile.mkdtemp(prefix="lvsweb-bench-")
    try:
        with Agent(root=root, netns=NETNS) as agent:
            apply_s, result = timed(agent.apply, doc)
            assert result.ok, result.error
            ipvs_ops = [op for op in result.applied if op.service is not None]
            assert len(ipvs_ops) == objects, len(ipvs_ops)
            noop_s = float("inf")
            for _ in range(repeat):  # the shortest of a few: the emulated CPU is shared and noisy
                seconds, result = timed(agent.reconcile)
                assert result.ok and result.plan.empty, str(result.plan)[:500]
                noop_s = min(noop_s, seconds)
            heavier = copy.deepcopy(doc)
            heavier["director"]["services"][services // 2]["real_servers"][3]["weight"] = 5
            weight_s, result = timed(agent.apply, heavier)
            assert result.ok and [op.kind for op in result.applied] == ["edit-dest"], str(result.plan)[:500]
            dump_s, agent_text = timed(agent.show_ipvsadm)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    assert agent_text == output("ipvsadm", "-Sn"), "show --ipvsadm differs from ipvsadm -Sn"
    text = render_save(parse_document(doc).director.services)
    baseline = min(run("true") for _ in range(repeat))
    run("ipvsadm", "-C")
    restore_s = run("ipvsadm-restore", stdin=text) - baseline
    assert output("ipvsadm", "-Sn") == text, "ipvsadm-restore loaded something else"
    save_s = min(run("ipvsadm", "-Sn") for _ in range(repeat)) - baseline
    run("ipvsadm", "-C")
    return {
        "services": services,
        "real_servers": services * dests,
        "agent_apply_s": round(apply_s, 3),
        "ipvsadm_restore_s": round(restore_s, 3),
        "apply_ratio": round(apply_s / restore_s, 2),
        "agent_noop_reconcile_s": round(noop_s, 3),
        "ipvsadm_Sn_s": round(save_s, 3),
        "noop_ratio": round(noop_s / save_s, 2),
        "agent_dump_s": round(dump_s, 3),
        "weight_change_s": round(weight_s, 3),
    }


def table(rows: list[dict]) -> str:
    header = (
        "| services x real servers | agent apply | ipvsadm-restore | ratio | no-op reconcile | ipvsadm -Sn "
        "| ratio | agent dump only | one weight change |"
    )
    lines = [header, "|" + "---|" * 9]
    for row in rows:
        lines.append(
            f"| {row['services']} x {row['real_servers'] // row['services']} | {row['agent_apply_s']:.2f} s "
            f"| {row['ipvsadm_restore_s']:.2f} s | {row['apply_ratio']:.2f}x "
            f"| {row['agent_noop_reconcile_s']:.2f} s | {row['ipvsadm_Sn_s']:.2f} s | {row['noop_ratio']:.2f}x "
            f"| {row['agent_dump_s']:.2f} s | {row['weight_change_s']:.2f} s |"
        )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100,1000,5000", help="numbers of services, comma-separated")
    parser.add_argument("--dests", type=int, default=10, help="real servers per service")
    parser.add_argument("--repeat", type=int, default=3, help="no-op reconcile and ipvsadm -Sn: best of N")
    parser.add_argument("--json", help="also write the rows as JSON to this file")
    args = parser.parse_args()
    if os.geteuid() != 0:
        print("agent_apply.py: run it as root inside the lab VM (scripts/lab/vm-run)", file=sys.stderr)
        return 2
    setup_namespace()
    rows = []
    try:
        for size in (int(part) for part in args.sizes.split(",")):
            rows.append(bench(size, args.dests, args.repeat))
            print(json.dumps(rows[-1]), flush=True)
    finally:
        subprocess.run(["ip", "netns", "del", NETNS], check=False)
    print(table(rows))
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
