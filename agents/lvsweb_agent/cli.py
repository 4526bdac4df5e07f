"""`lvsweb-agent`: apply, show, check, install-unit and `--version`; run and enroll are in dispatch_cli.py."""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import TYPE_CHECKING

from lvsweb_agent.dispatch_cli import add_dispatch_commands, run_dispatch_command
from lvsweb_agent.document import DOCUMENT_VERSION, DocumentError, load_document
from lvsweb_agent.facts import agent_version

if TYPE_CHECKING:
    from lvsweb_agent.model import ActualState

EXIT_OK, EXIT_KERNEL, EXIT_DOCUMENT, EXIT_MISSING = 0, 1, 2, 3
#: A reader that went away (`lvsweb-agent show --json | head`): the exit status of a command killed by SIGPIPE.
EXIT_CLOSED_PIPE = 128 + 13


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lvsweb-agent",
        description="Make this host's IPVS table, VIPs and sysctls match an lvsweb desired-state document.",
    )
    parser.add_argument(
        "--root",
        default=os.environ.get("LVSWEB_AGENT_ROOT", "/"),
        help="directory every written file goes under (env LVSWEB_AGENT_ROOT, default /)",
    )
    parser.add_argument("--netns", default=None, help="act in this network namespace (name or path)")
    parser.add_argument(
        "--version",
        action="version",
        version=f"lvsweb-agent {agent_version()} (document format {DOCUMENT_VERSION})",
        help="the agent's version and the desired-state document format it reads",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    apply = commands.add_parser("apply", help="validate, plan and apply a document")
    apply.add_argument("file")
    apply.add_argument("--dry-run", action="store_true", help="show the plan, change nothing")
    apply.add_argument("--json", action="store_true", help="machine-readable output")
    show = commands.add_parser("show", help="the actual state")
    form = show.add_mutually_exclusive_group()
    form.add_argument("--json", action="store_true")
    form.add_argument("--ipvsadm", action="store_true", help="exactly the `ipvsadm-save -n` text")
    check = commands.add_parser("check", help="what this kernel supports (and what FILE needs)")
    check.add_argument("file", nargs="?")
    check.add_argument("--json", action="store_true")
    add_dispatch_commands(commands)
    commands.add_parser(
        "install-unit",
        help="write /etc/systemd/system/lvsweb-agent.service for this installation; link it in /usr/local/bin",
    )
    return parser


def _document_error(exc: DocumentError, as_json: bool) -> int:
    if as_json:
        print(json.dumps({"ok": False, "problems": [{"path": p, "message": m} for p, m in exc.problems]}, indent=2))
    else:
        print("the document was refused, nothing applied:", file=sys.stderr)
        for path, message in exc.problems:
            print(f"  {path}: {message}", file=sys.stderr)
    return EXIT_DOCUMENT


def main(argv: list[str] | None = None) -> int:
    """Entry point of the console script."""
    args = _parser().parse_args(argv)
    if args.command == "run":
        return run_dispatch_command(args)  # a long-lived worker: its broken sockets are its own business
    try:
        code = _command(args)
        sys.stdout.flush()  # here, not at exit, where a closed pipe would print "Exception ignored …"
    except BrokenPipeError:
        # Whoever read stdout stopped reading (`| head`): end quietly, as the C tools do on SIGPIPE. Python
        # would flush stdout again on the way out and fail the same way, so point it at /dev/null first.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_CLOSED_PIPE
    return code


def _command(args: argparse.Namespace) -> int:
    """Run every command but `run`; returns the exit code."""
    if args.command == "enroll":
        return run_dispatch_command(args)
    if args.command == "install-unit":
        from lvsweb_agent.unit import install_unit, link_program

        path = install_unit(args.root)
        link = link_program(args.root)
        print(f"wrote {path}" + (f" and linked {link}" if link else ""))
        print("once enrolled: systemctl daemon-reload && systemctl enable --now lvsweb-agent")
        return EXIT_OK
    from lvsweb_agent.agent import Agent, dumps, state_json
    from lvsweb_agent.netlink import NetlinkDecodeError, NetlinkTimeout

    if args.command == "check":
        from lvsweb_agent.check import check_kernel

        desired = None
        if args.file:
            try:
                desired = load_document(args.file)
            except DocumentError as exc:
                return _document_error(exc, args.json)
        report = check_kernel(desired, netns=args.netns)
        print(dumps(report.to_json()) if args.json else report)
        return EXIT_OK if report.ok else EXIT_MISSING
    if args.command == "apply":
        try:
            with open(args.file) as handle:
                doc = json.load(handle)
        except OSError as exc:
            return _document_error(DocumentError([("$", f"cannot read {args.file}: {exc.strerror}")]), args.json)
        except json.JSONDecodeError as exc:
            problem = f"not JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
            return _document_error(DocumentError([("$", problem)]), args.json)
        try:
            with Agent(root=args.root, netns=args.netns) as agent:
                result = agent.apply(doc, dry_run=args.dry_run)
        except DocumentError as exc:
            return _document_error(exc, args.json)
        except (NetlinkDecodeError, NetlinkTimeout) as exc:
            return _kernel_error(exc, args.json)
        print(dumps(result.to_json()) if args.json else result)
        return EXIT_OK if result.ok else EXIT_KERNEL
    try:
        with Agent(root=args.root, netns=args.netns) as agent:
            if args.ipvsadm:
                sys.stdout.write(agent.show_ipvsadm())
            else:
                state = agent.show()
                print(dumps(state_json(state)) if args.json else _show_text(state))
    except (NetlinkDecodeError, NetlinkTimeout) as exc:
        return _kernel_error(exc, args.json)
    return EXIT_OK


def _kernel_error(exc: Exception, as_json: bool) -> int:
    """The kernel's answer was unreadable or missing: one line in operator words, no traceback."""
    from lvsweb_agent.errors import describe_exception

    message = describe_exception(exc)
    if as_json:
        print(json.dumps({"ok": False, "error": message}, indent=2))
    else:
        print(message, file=sys.stderr)
    return EXIT_KERNEL


def _show_text(state: ActualState) -> str:
    from lvsweb_agent.model import format_hostport

    lines = [] if state.ipvs_loaded else ["IPVS is not loaded"]
    for service in sorted(state.services.values(), key=lambda s: s.key):
        lines.append(f"{service.key}  {service.describe()}")
        for dest in service.real_servers:
            counters = dest.counters
            conns = f"active {counters.active_conns} inactive {counters.inactive_conns}" if counters else ""
            lines.append(f"  -> {format_hostport(dest.address, dest.port)}  {dest.describe()}  {conns}")
    for address in state.addresses:
        lines.append(f"address {address}")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
