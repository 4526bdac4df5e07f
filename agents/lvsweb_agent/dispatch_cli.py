"""The `run` and `enroll` subcommands of `lvsweb-agent` (the dispatch side; cli.py holds the rest)."""

from __future__ import annotations

import argparse
import os
import sys

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def add_dispatch_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `run` and `enroll` to the CLI's subparsers."""
    run = commands.add_parser("run", help="serve this host's queue: apply the console's signed commands")
    run.add_argument(
        "--config",
        default=None,
        help="configuration file (env LVSWEB_AGENT_CONFIG, default /etc/lvsweb-agent/agent.json)",
    )
    run.add_argument("--loglevel", default="INFO", help="DEBUG, INFO, WARNING or ERROR (default INFO)")
    enroll = commands.add_parser("enroll", help="enroll this host with the console using a one-time token")
    enroll.add_argument("--server", required=True, help="the console's URL, e.g. https://console.example")
    enroll.add_argument("--token", required=True, help="the enrollment token the console showed")
    enroll.add_argument(
        "--config",
        default=None,
        help="where to write the configuration (env LVSWEB_AGENT_CONFIG, default /etc/lvsweb-agent/agent.json)",
    )
    enroll.add_argument(
        "--root",
        dest="enroll_root",
        metavar="DIR",
        default=None,
        help="the root `run` will write files under (default: the global --root)",
    )
    enroll.add_argument("--ca-file", default=None, help="PEM file of CA certificates to verify the console with")
    enroll.add_argument("--timeout", type=float, default=30, help="seconds to wait for the console (default 30)")


def run_dispatch_command(args: argparse.Namespace) -> int:
    """Run `lvsweb-agent run` or `lvsweb-agent enroll`; returns the exit code."""
    from lvsweb_agent.config import ConfigError

    if args.command == "enroll":
        from lvsweb_agent.enroll import EnrollError, enroll

        root = os.path.abspath(args.enroll_root or args.root)
        try:
            config = enroll(
                server=args.server,
                token=args.token,
                config=args.config,
                root=root,
                ca_file=args.ca_file,
                timeout=args.timeout,
                netns=args.netns,
            )
        except (EnrollError, ConfigError, OSError) as exc:
            print(f"lvsweb-agent enroll: {exc}", file=sys.stderr)
            return EXIT_FAILED
        from lvsweb_agent.config import config_path

        print(
            f"enrolled as {config.host}: configuration written to {config_path(args.config)}, "
            f"key in {config.private_key_file}; start the agent with `lvsweb-agent run`"
        )
        return EXIT_OK
    from lvsweb_agent.config import load_config

    try:
        config = load_config(args.config)
        config.control_key()
        config.host_key()
    except ConfigError as exc:
        print(f"lvsweb-agent run: {exc}", file=sys.stderr)
        return EXIT_USAGE
    from lvsweb_agent.worker import run_worker

    return run_worker(config, netns=args.netns, loglevel=args.loglevel)
