"""`ipvsadm-save -n` text: parse it (with the line of every problem) and render a rule set back.

The parser reads what `ipvsadm-save -n` prints and what people keep in rules files and scripts: -A/-E
(service) and -a/-e (real server) lines, short or long options, an optional leading `ipvsadm`, `#` comments
and blank lines. -E and -e replace the settings of a service or real server defined above, as `ipvsadm`
does (an option left out takes its default). Rendering is the agent's own (`lvsweb_agent.ipvsadm`), so an
export is byte for byte what `ipvsadm-save -n` prints on a director; thresholds, which ipvsadm-save leaves
out, are added as -x/-y (ipvsadm-restore reads them) when they are set.
"""

from __future__ import annotations

from lvsweb_agent.ipvsadm import render_save
from lvsweb_agent.model import RealServer, Service, ServiceKey, Tunnel

from clusters.interchange.ruleset import (
    MAX_THRESHOLD,
    MAX_WEIGHT,
    Deadline,
    ParsedRules,
    Problem,
    RuleSetBuilder,
    check_scheduler,
    parse_address,
    parse_int,
    persistence,
    scheduler_flags,
)

COMMANDS = {"-A": "-A", "--add-service": "-A", "-E": "-E", "--edit-service": "-E"}
COMMANDS |= {"-a": "-a", "--add-server": "-a", "-e": "-e", "--edit-server": "-e"}
#: Commands a rules file may hold that an import does not carry out (it adds and changes, never deletes).
SKIPPED_COMMANDS = {
    "-C": "clearing the table (-C)",
    "--clear": "clearing the table (--clear)",
    "-D": "deleting a service (-D)",
    "--delete-service": "deleting a service (--delete-service)",
    "-d": "deleting a real server (-d)",
    "--delete-server": "deleting a real server (--delete-server)",
    "-Z": "zeroing counters (-Z)",
    "--zero": "zeroing counters (--zero)",
    "--set": "connection timeouts (--set)",
    "--start-daemon": "the sync daemon (--start-daemon)",
    "--stop-daemon": "the sync daemon (--stop-daemon)",
}
#: Option spellings, each mapped to its short name; the value says whether it takes an argument.
OPTIONS = {
    "-t": ("-t", True),
    "--tcp-service": ("-t", True),
    "-u": ("-u", True),
    "--udp-service": ("-u", True),
    "--sctp-service": ("--sctp-service", True),
    "-f": ("-f", True),
    "--fwmark-service": ("-f", True),
    "-6": ("-6", False),
    "--ipv6": ("-6", False),
    "-s": ("-s", True),
    "--scheduler": ("-s", True),
    "-p": ("-p", None),  # the timeout is optional (300 s)
    "--persistent": ("-p", None),
    "-M": ("-M", True),
    "--netmask": ("-M", True),
    "-b": ("-b", True),
    "--sched-flags": ("-b", True),
    "-o": ("-o", False),
    "--ops": ("-o", False),
    "--pe": ("--pe", True),
    "-r": ("-r", True),
    "--real-server": ("-r", True),
    "-g": ("-g", False),
    "--gatewaying": ("-g", False),
    "-i": ("-i", False),
    "--ipip": ("-i", False),
    "-m": ("-m", False),
    "--masquerading": ("-m", False),
    "-w": ("-w", True),
    "--weight": ("-w", True),
    "-x": ("-x", True),
    "--u-threshold": ("-x", True),
    "-y": ("-y", True),
    "--l-threshold": ("-y", True),
    "--tun-type": ("--tun-type", True),
    "--tun-port": ("--tun-port", True),
    "--tun-nocsum": ("--tun-nocsum", False),
    "--tun-csum": ("--tun-csum", False),
    "--tun-remcsum": ("--tun-remcsum", False),
    "-n": ("-n", False),
    "--numeric": ("-n", False),
}
PROTOCOL_OF = {"-t": "tcp", "-u": "udp", "--sctp-service": "sctp"}
FORWARD_OF = {"-g": "dr", "-i": "tun", "-m": "nat"}
CHECKSUM_OF = {"--tun-nocsum": "none", "--tun-csum": "csum", "--tun-remcsum": "remcsum"}
DEFAULT_PERSISTENCE = 300  # ipvsadm's timeout for a bare -p
MAX_TIMEOUT = 2**31 - 1


class LineError(ValueError):
    """The problem of one line (the parser adds the line number)."""


def render(services) -> str:
    """The rule set as `ipvsadm-save -n` prints it (plus -x/-y for thresholds that are set)."""
    return render_save(services, thresholds=True)


def _tokens(line: str) -> list[str]:
    tokens = []
    for word in line.split():
        if word.startswith("#"):
            break  # a comment runs to the end of the line
        tokens.append(word)
    if tokens and tokens[0] in ("ipvsadm", "/sbin/ipvsadm", "/usr/sbin/ipvsadm"):
        tokens = tokens[1:]
    return tokens


def _options(tokens: list[str]) -> dict[str, str | None]:
    options: dict[str, str | None] = {}
    position = 1
    while position < len(tokens):
        token = tokens[position]
        position += 1
        name, inline = token, None
        if token.startswith("--") and "=" in token:
            name, inline = token.split("=", 1)
        spelling = OPTIONS.get(name)
        if spelling is None:
            raise LineError(f"unknown option “{token}”")
        short, takes_value = spelling
        if short in options:
            raise LineError(f"{token} is given twice")
        value = inline
        if value is None and takes_value is not False:
            following = tokens[position] if position < len(tokens) else None
            if takes_value is None:  # -p: a timeout only when the next word is a number
                if following is not None and following.isascii() and following.isdigit():
                    value, position = following, position + 1
            elif following is None:
                raise LineError(f"{token} needs a value")
            else:
                value, position = following, position + 1
        options[short] = value
    return options


def _split_hostport(text: str, default_port: int | None) -> tuple[str, int]:
    if text.startswith("["):
        host, bracket, rest = text[1:].partition("]")
        if not bracket or (rest and not rest.startswith(":")):
            raise LineError(f"“{text}” is not ADDRESS:PORT ([IPv6]:PORT for IPv6)")
        port_text = rest[1:] if rest else None
    elif text.count(":") == 1:
        host, _, port_text = text.partition(":")
    else:
        host, port_text = text, None  # an IPv4 address, or a bare IPv6 one
    try:
        address = parse_address(host)
        if port_text is None:
            if default_port is None:
                raise LineError(f"“{text}” has no port (give ADDRESS:PORT)")
            return address, default_port
        return address, parse_int(port_text, "port", 0, 65535)
    except ValueError as exc:
        raise LineError(str(exc)) from None


def _service_key(options: dict[str, str | None]) -> ServiceKey:
    switches = [switch for switch in ("-t", "-u", "--sctp-service", "-f") if switch in options]
    if not switches:
        raise LineError("no service: give -t, -u, --sctp-service ADDRESS:PORT or -f MARK")
    if len(switches) > 1:
        raise LineError(f"more than one service ({' and '.join(switches)}) on one line")
    switch = switches[0]
    if switch == "-f":
        try:
            mark = parse_int(options["-f"], "firewall mark", 1, 2**32 - 1)
        except ValueError as exc:
            raise LineError(str(exc)) from None
        return ServiceKey.for_fwmark(mark, "ipv6" if "-6" in options else "ipv4")
    address, port = _split_hostport(options[switch], 0)
    return ServiceKey.for_address(PROTOCOL_OF[switch], address, port)


def _number(options, name: str, what: str, low: int, high: int, default: int) -> int:
    if name not in options:
        return default
    try:
        return parse_int(options[name], what, low, high)
    except ValueError as exc:
        raise LineError(str(exc)) from None


def _service(key: ServiceKey, options: dict[str, str | None], builder: RuleSetBuilder, line: int) -> Service:
    for name in ("-r", "-w", "-x", "-y", "-g", "-i", "-m", "--tun-type", "--tun-port", *CHECKSUM_OF):
        if name in options:
            raise LineError(f"{name} belongs on a real-server line (-a), not on a service line")
    try:
        scheduler = check_scheduler(options.get("-s") or "wlc")
        flags = scheduler_flags(scheduler, (options["-b"] or "").split(",")) if "-b" in options else frozenset()
    except ValueError as exc:
        raise LineError(str(exc)) from None
    persistent = None
    if "-p" in options:
        timeout = DEFAULT_PERSISTENCE
        if options["-p"] is not None:
            timeout = _number(options, "-p", "persistence timeout", 1, MAX_TIMEOUT, DEFAULT_PERSISTENCE)
        persistent = persistence(timeout, options.get("-M"), key.family)
    elif "-M" in options:
        raise LineError("-M (persistence netmask) needs -p (persistence)")
    if "--pe" in options:
        builder.not_imported(line, f"--pe {options['--pe']}: persistence engines are not imported")
    return Service(key=key, scheduler=scheduler, flags=flags, persistence=persistent, one_packet="-o" in options)


def _dest(key: ServiceKey, options: dict[str, str | None], builder: RuleSetBuilder, line: int) -> RealServer:
    for name in ("-s", "-p", "-M", "-b", "-o", "--pe"):
        if name in options:
            raise LineError(f"{name} belongs on a service line (-A), not on a real-server line")
    if "-r" not in options:
        raise LineError("a real-server line needs -r ADDRESS[:PORT]")
    address, port = _split_hostport(options["-r"], key.port)
    methods = [switch for switch in FORWARD_OF if switch in options]
    if len(methods) > 1:
        raise LineError(f"choose one forwarding method, not {' and '.join(methods)}")
    forward = FORWARD_OF[methods[0]] if methods else "dr"  # ipvsadm's default is direct routing
    tunnel = None
    tunnel_options = [name for name in ("--tun-type", "--tun-port", *CHECKSUM_OF) if name in options]
    if forward == "tun":
        checksums = [name for name in CHECKSUM_OF if name in options]
        if len(checksums) > 1:
            raise LineError(f"choose one tunnel checksum, not {' and '.join(checksums)}")
        tunnel_type = options.get("--tun-type") or "ipip"
        if tunnel_type not in ("ipip", "gue", "gre"):
            raise LineError(f"unknown tunnel type “{tunnel_type}” (ipip, gue or gre)")
        tunnel = Tunnel(
            type=tunnel_type,
            port=_number(options, "--tun-port", "tunnel port", 1, 65535, 0),
            checksum=CHECKSUM_OF[checksums[0]] if checksums else "none",
        )
    elif tunnel_options:
        raise LineError(f"{tunnel_options[0]} applies only to tunnel mode (-i)")
    if key.fwmark and port and forward in ("tun", "dr"):
        builder.warning(
            line,
            f"port {port} of real server {address} dropped: a firewall-mark service in {forward.upper()} mode "
            "keeps the packets' own port",
        )
        port = 0
    return RealServer(
        address=address,
        port=port,
        weight=_number(options, "-w", "weight", 0, MAX_WEIGHT, 1),
        forward=forward,
        tunnel=tunnel,
        upper_threshold=_number(options, "-x", "upper threshold", 0, MAX_THRESHOLD, 0),
        lower_threshold=_number(options, "-y", "lower threshold", 0, MAX_THRESHOLD, 0),
    )


def _line(tokens: list[str], builder: RuleSetBuilder, line: int) -> None:
    command = COMMANDS.get(tokens[0])
    if command is None:
        if tokens[0] in SKIPPED_COMMANDS:
            builder.not_imported(line, f"{SKIPPED_COMMANDS[tokens[0]]}: an import only adds and changes rules")
            return
        raise LineError(f"expected -A or -a (ipvsadm-save lines), got “{tokens[0]}”")
    options = _options(tokens)
    options.pop("-n", None)
    key = _service_key(options)
    if command == "-A":
        builder.add_service(_service(key, options, builder, line), line)
    elif command == "-E":
        service = _service(key, options, builder, line)
        builder.edit_service(
            key,
            line,
            scheduler=service.scheduler,
            flags=service.flags,
            persistence=service.persistence,
            one_packet=service.one_packet,
        )
    else:
        builder.add_dest(key, _dest(key, options, builder, line), line, edit=command == "-e")


def parse(text: str, *, seconds: float | None = None) -> ParsedRules:
    """The rule set of `ipvsadm-save -n` text; every line that cannot be read is an error with its number.

    Raises TooSlow when reading takes longer than `seconds` (default: ruleset.PARSE_SECONDS).
    """
    builder = RuleSetBuilder("ipvsadm")
    deadline = Deadline(seconds)
    for number, line in enumerate(text.splitlines(), start=1):
        deadline.check()
        try:
            tokens = _tokens(line)
            if tokens:
                _line(tokens, builder, number)
        except LineError as exc:
            builder.error(number, str(exc))
    result = builder.build()
    if not result.services and not result.errors:
        result.errors.append(Problem(0, "The text holds no services (no -A lines)."))
    return result
