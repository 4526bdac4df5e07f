"""The agent's configuration file: where the broker is, which host and queue it is, whose signatures to trust.

JSON, written by `lvsweb-agent enroll` with mode 0600 (it holds the broker URL, often with a password) and
read by `lvsweb-agent run`. Like ssh, loading refuses a file that group or others may read. See
docs/agent-spec.md, "Running the agent", and docs/dispatch.md, "Enrollment".
"""

from __future__ import annotations

import json
import os
import stat
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from lvsweb_agent.envelope import EnvelopeError, load_private_key_pem, load_public_key
from lvsweb_agent.names import hostname_problem

DEFAULT_CONFIG = "/etc/lvsweb-agent/agent.json"
CONFIG_ENV = "LVSWEB_AGENT_CONFIG"
KEY_FILE_NAME = "host-key.pem"

_TEXT_FIELDS = ("broker_url", "host", "queue", "control_public_key", "private_key_file")
_OPTIONAL = {"root": "/", "server": ""}


class ConfigError(ValueError):
    """The configuration cannot be used; the message names the file and the field."""


@dataclass(frozen=True)
class AgentConfig:
    """What `lvsweb-agent run` needs to serve one host's queue."""

    broker_url: str
    host: str
    queue: str
    control_public_key: str
    private_key_file: str
    heartbeat_interval: float
    root: str = "/"
    server: str = ""

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    def control_key(self) -> Ed25519PublicKey:
        """The console's public key (commands must verify with it)."""
        return load_public_key(self.control_public_key)

    def host_key(self) -> Ed25519PrivateKey:
        """The host's private key (reports are signed with it); refused when others may read the file."""
        path = Path(self.private_key_file)
        try:
            _refuse_open_permissions(path, "private key file")
            return load_private_key_pem(path.read_bytes())
        except FileNotFoundError:
            raise ConfigError(f"{path}: the host's private key file does not exist (enroll again)") from None
        except OSError as exc:
            raise ConfigError(f"{path}: cannot read the host's private key: {exc.strerror}") from None
        except (EnvelopeError, ValueError) as exc:
            raise ConfigError(f"{path}: not an Ed25519 private key in PEM form ({exc})") from None


def config_path(explicit: str | os.PathLike[str] | None = None) -> Path:
    """The file to use: `--config`, else $LVSWEB_AGENT_CONFIG, else /etc/lvsweb-agent/agent.json."""
    return Path(explicit or os.environ.get(CONFIG_ENV) or DEFAULT_CONFIG)


def default_key_file(path: str | os.PathLike[str]) -> Path:
    """Where the host's private key goes by default: next to the configuration file."""
    return Path(path).parent / KEY_FILE_NAME


def _refuse_open_permissions(path: Path, what: str) -> None:
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        raise ConfigError(
            f"{path}: permissions {mode:04o} are too open: the {what} must not be accessible by group or "
            f"others (it holds secrets); run `chmod 600 {path}`"
        )


def parse_config(data: object, path: str | os.PathLike[str] = "<config>") -> AgentConfig:
    """Validate the decoded JSON; ConfigError names every missing or invalid field."""
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the configuration must be a JSON object")
    problems = []
    values: dict[str, Any] = {}
    for name in _TEXT_FIELDS:
        value = data.get(name)
        if value is None:
            problems.append(f"{name}: missing")
        elif not isinstance(value, str) or not value.strip():
            problems.append(f"{name}: must be a non-empty string")
        else:
            values[name] = value
    interval = data.get("heartbeat_interval")
    if interval is None:
        problems.append("heartbeat_interval: missing")
    elif isinstance(interval, bool) or not isinstance(interval, int | float) or not 0 < interval <= 3600:
        problems.append(f"heartbeat_interval: must be a number of seconds between 0 and 3600, not {interval!r}")
    else:
        values["heartbeat_interval"] = interval
    for name, default in _OPTIONAL.items():
        value = data.get(name, default)
        if not isinstance(value, str):
            problems.append(f"{name}: must be a string")
        else:
            values[name] = value
    if "host" in values and (problem := hostname_problem(values["host"])):
        problems.append(f"host: {problem}")
    if "broker_url" in values and "://" not in values["broker_url"]:
        problems.append(f"broker_url: {values['broker_url']!r} is not a URL (e.g. redis://host:6379/0)")
    if "control_public_key" in values:
        try:
            load_public_key(values["control_public_key"])
        except EnvelopeError as exc:
            problems.append(f"control_public_key: {exc}")
    unknown = sorted(set(data) - set(_TEXT_FIELDS) - set(_OPTIONAL) - {"heartbeat_interval"})
    problems += [f"{name}: unknown field" for name in unknown]
    if problems:
        raise ConfigError(f"{path}: invalid configuration:\n  " + "\n  ".join(problems))
    key_file = Path(values["private_key_file"])
    if not key_file.is_absolute():
        # Relative to the configuration file, so a config and its key move together.
        values["private_key_file"] = str(Path(path).parent / key_file)
    return AgentConfig(**values)


def load_config(path: str | os.PathLike[str] | None = None) -> AgentConfig:
    """Read and validate the configuration file (see `config_path` for which one)."""
    path = config_path(path)
    try:
        _refuse_open_permissions(path, "configuration file")
        text = path.read_text()
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such configuration file (run `lvsweb-agent enroll` first)") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the configuration: {exc.strerror}") from None
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise ConfigError(f"{path}: not JSON: {exc}") from None
    return parse_config(data, path)


def write_config(config: AgentConfig, path: str | os.PathLike[str] | None = None) -> Path:
    """Write the configuration with mode 0600 (atomically: a crash never leaves half a file)."""
    path = config_path(path)
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        os.fchmod(handle.fileno(), 0o600)
        json.dump(config.to_json(), handle, indent=2)
        handle.write("\n")
    os.replace(tmp, path)
    return path
