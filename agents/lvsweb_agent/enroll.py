"""`lvsweb-agent enroll`: trade a one-time token for this host's configuration (docs/dispatch.md, "Enrollment").

A new host key pair is made for every enrollment and written only once the console has accepted its public
key, so a failed or refused enrollment leaves a working configuration (and its key) as it was.
"""

from __future__ import annotations

import json
import os
import ssl
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from lvsweb_agent.config import AgentConfig, ConfigError, config_path, default_key_file, parse_config, write_config
from lvsweb_agent.envelope import generate_private_key, private_key_pem, public_key_text
from lvsweb_agent.facts import host_facts

ENROLL_PATH = "/api/agent/enroll/"
ANSWER_FIELDS = ("host", "queue", "broker_url", "control_public_key", "heartbeat_interval")


class EnrollError(RuntimeError):
    """Enrollment did not happen; the message is one line for the operator."""


def enroll_url(server: str) -> str:
    """The console's enrollment endpoint for the console at `server`."""
    server = server.strip()
    if not server.startswith(("http://", "https://")):
        raise EnrollError(f"--server must be the console's http:// or https:// URL, not {server!r}")
    return server.rstrip("/") + ENROLL_PATH


def _console_message(body: bytes) -> str:
    """The console's refusal in one line: `detail`, or `field: message` for each field error."""
    try:
        data = json.loads(body)
    except ValueError:
        text = body.decode(errors="replace").strip()
        return " ".join(text.split())[:300] or "no explanation given"
    if isinstance(data, dict) and "detail" in data and len(data) == 1:
        return str(data["detail"])
    if isinstance(data, dict):
        parts = []
        for field, messages in data.items():
            if isinstance(messages, list):
                messages = " ".join(str(message) for message in messages)
            parts.append(f"{field}: {messages}")
        return "; ".join(parts)
    return str(data)


def _post(url: str, body: dict[str, Any], ca_file: str | None, timeout: float) -> dict[str, Any]:
    request = urllib.request.Request(  # noqa: S310 - the scheme is checked by enroll_url
        url,
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json", "Accept": "application/json"},
        method="POST",
    )
    context = ssl.create_default_context(cafile=ca_file) if url.startswith("https://") else None
    try:
        with urllib.request.urlopen(request, timeout=timeout, context=context) as response:  # noqa: S310
            raw = response.read()
    except urllib.error.HTTPError as exc:
        message = _console_message(exc.read())
        raise EnrollError(f"the console refused the enrollment ({exc.code}): {message}") from None
    except urllib.error.URLError as exc:
        raise EnrollError(f"cannot reach {url}: {exc.reason}") from None
    except (TimeoutError, OSError) as exc:
        raise EnrollError(f"cannot reach {url}: {exc}") from None
    try:
        answer = json.loads(raw)
    except ValueError:
        raise EnrollError(f"{url} answered, but not with JSON: is --server the lvsweb console?") from None
    if not isinstance(answer, dict):
        raise EnrollError(f"{url} answered with JSON that is not an object")
    return answer


def enroll(
    *,
    server: str,
    token: str,
    config: str | os.PathLike[str] | None = None,
    root: str = "/",
    ca_file: str | None = None,
    timeout: float = 30,
    netns: str | None = None,
) -> AgentConfig:
    """Enroll this host with the console at `server`; writes the key and the configuration, returns it."""
    url = enroll_url(server)
    path = config_path(config)
    if ca_file is not None and not Path(ca_file).is_file():
        raise EnrollError(f"--ca-file {ca_file}: no such file")
    key = generate_private_key()
    facts = host_facts(netns=netns)
    answer = _post(url, {"token": token, "public_key": public_key_text(key), "facts": facts}, ca_file, timeout)
    missing = [name for name in ANSWER_FIELDS if name not in answer]
    if missing:
        raise EnrollError(f"the console's answer lacks {', '.join(missing)}: console and agent versions differ?")
    key_file = default_key_file(path)
    data = {name: answer[name] for name in ANSWER_FIELDS}
    data.update(private_key_file=str(key_file), root=root, server=server.strip().rstrip("/"))
    try:
        agent_config = parse_config(data, path)
    except ConfigError as exc:
        problems = " ".join(str(exc).split())
        raise EnrollError(f"the console's answer is not a usable configuration: {problems}") from None
    _write_key(key_file, private_key_pem(key))
    write_config(agent_config, path)
    return agent_config


def _write_key(path: Path, pem: bytes) -> None:
    # Replace any older key atomically; the new file is never readable by anyone but its owner.
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(pem)
    os.replace(tmp, path)
