"""The agent's configuration file: written 0600, refused when others may read it, every bad field named."""

import json
import os
import stat

import pytest
from lvsweb_agent.cli import main
from lvsweb_agent.config import (
    CONFIG_ENV,
    DEFAULT_CONFIG,
    AgentConfig,
    ConfigError,
    config_path,
    load_config,
    write_config,
)
from lvsweb_agent.envelope import generate_private_key, private_key_pem, public_key_text

CONTROL = generate_private_key()


def make_config(tmp_path, **changes) -> AgentConfig:
    fields = {
        "broker_url": "redis://:secret@10.0.2.100:6379/0",
        "host": "rs1",
        "queue": "lvsweb.host.rs1",
        "control_public_key": public_key_text(CONTROL),
        "private_key_file": str(tmp_path / "host-key.pem"),
        "heartbeat_interval": 10,
        "root": "/",
        "server": "https://console.example",
    }
    fields.update(changes)
    return AgentConfig(**fields)


def write_raw(path, data: dict, mode: int = 0o600):
    path.write_text(json.dumps(data))
    path.chmod(mode)
    return path


def test_the_configuration_is_written_with_mode_0600_and_reads_back(tmp_path):
    config = make_config(tmp_path)
    path = write_config(config, tmp_path / "etc" / "agent.json")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_config(path) == config


def test_writing_over_a_readable_file_leaves_it_0600(tmp_path):
    path = write_raw(tmp_path / "agent.json", {}, mode=0o644)
    write_config(make_config(tmp_path), path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_writing_keeps_0600_under_a_permissive_umask(tmp_path):
    old = os.umask(0)
    try:
        path = write_config(make_config(tmp_path), tmp_path / "agent.json")
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o644, 0o660])
def test_a_configuration_others_may_read_is_refused_like_ssh_does(tmp_path, mode):
    path = write_config(make_config(tmp_path), tmp_path / "agent.json")
    path.chmod(mode)
    with pytest.raises(ConfigError) as refused:
        load_config(path)
    message = str(refused.value)
    assert f"permissions {mode:04o} are too open" in message
    assert str(path) in message
    assert f"chmod 600 {path}" in message


def test_missing_fields_are_named_together(tmp_path):
    data = make_config(tmp_path).to_json()
    del data["host"], data["heartbeat_interval"], data["control_public_key"]
    with pytest.raises(ConfigError) as refused:
        load_config(write_raw(tmp_path / "agent.json", data))
    message = str(refused.value)
    assert "host: missing" in message
    assert "heartbeat_interval: missing" in message
    assert "control_public_key: missing" in message
    assert "queue" not in message


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        ("heartbeat_interval", 0, "heartbeat_interval: must be a number of seconds"),
        ("heartbeat_interval", "10", "heartbeat_interval: must be a number of seconds"),
        ("heartbeat_interval", True, "heartbeat_interval: must be a number of seconds"),
        ("control_public_key", "bm90IGEga2V5", "control_public_key: not a base64 Ed25519 public key"),
        ("broker_url", "127.0.0.1:6379", "broker_url: '127.0.0.1:6379' is not a URL"),
        ("host", "", "host: must be a non-empty string"),
        ("host", "slash/host", "host: “slash/host” is not a valid part of a hostname"),
        ("host", "lb1..example.net", "host: a hostname cannot have an empty part"),
        ("queue", 5, "queue: must be a non-empty string"),
        ("root", None, "root: must be a string"),
        ("heartbeat_intervall", 10, "heartbeat_intervall: unknown field"),
    ],
)
def test_invalid_fields_are_named(tmp_path, field, value, expected):
    data = {**make_config(tmp_path).to_json(), field: value}
    with pytest.raises(ConfigError, match="invalid configuration") as refused:
        load_config(write_raw(tmp_path / "agent.json", data))
    assert expected in str(refused.value)


def test_not_json_and_missing_files_say_so(tmp_path):
    path = tmp_path / "agent.json"
    with pytest.raises(ConfigError, match="no such configuration file"):
        load_config(path)
    path.write_text("{broker_url: ")
    path.chmod(0o600)
    with pytest.raises(ConfigError, match="not JSON"):
        load_config(path)


def test_a_relative_key_file_is_next_to_the_configuration(tmp_path):
    data = {**make_config(tmp_path).to_json(), "private_key_file": "host-key.pem"}
    config = load_config(write_raw(tmp_path / "agent.json", data))
    assert config.private_key_file == str(tmp_path / "host-key.pem")


def test_the_host_key_must_be_private_too(tmp_path):
    config = make_config(tmp_path)
    key_file = tmp_path / "host-key.pem"
    key_file.write_bytes(private_key_pem(generate_private_key()))
    key_file.chmod(0o600)
    assert public_key_text(config.host_key())
    key_file.chmod(0o644)
    with pytest.raises(ConfigError, match="permissions 0644 are too open: the private key file"):
        config.host_key()
    key_file.unlink()
    with pytest.raises(ConfigError, match="private key file does not exist"):
        config.host_key()


def test_which_file_is_used(tmp_path, monkeypatch):
    monkeypatch.delenv(CONFIG_ENV, raising=False)
    assert str(config_path()) == DEFAULT_CONFIG
    monkeypatch.setenv(CONFIG_ENV, str(tmp_path / "env.json"))
    assert config_path() == tmp_path / "env.json"
    assert config_path(tmp_path / "flag.json") == tmp_path / "flag.json"


def test_run_refuses_a_readable_configuration_before_connecting(tmp_path, capsys):
    path = write_config(make_config(tmp_path), tmp_path / "agent.json")
    path.chmod(0o644)
    assert main(["run", "--config", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("lvsweb-agent run: ")
    assert "permissions 0644 are too open" in err


def test_run_names_a_missing_field(tmp_path, capsys):
    data = make_config(tmp_path).to_json()
    del data["broker_url"]
    assert main(["run", "--config", str(write_raw(tmp_path / "agent.json", data))]) == 2
    assert "broker_url: missing" in capsys.readouterr().err
