"""`director.ha` in a document (docs/ha.md): what is accepted, the words when it is not, and the keepalived
configuration it becomes (checked by Debian's keepalived itself, `keepalived --config-test`)."""

from __future__ import annotations

import copy
import subprocess
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lvsweb_agent import keepalived
from lvsweb_agent.document import DocumentError, parse_document
from lvsweb_agent.fastcheck import conforms
from lvsweb_agent.hadoc import SyncDaemon

from .docs import example


def ha_doc(**instance) -> dict:
    doc = example("ha-director")
    doc["director"]["ha"]["instances"][0].update(instance)
    return doc


def problems(doc: dict) -> list[tuple[str, str]]:
    with pytest.raises(DocumentError) as caught:
        parse_document(doc)
    return caught.value.problems


def test_the_example_parses_into_instances_and_a_sync_daemon():
    ha = parse_document(example("ha-director")).director.ha
    (web,) = ha.instances
    assert (web.name, web.vrid, web.priority, web.advert_int, web.vrrp_version) == ("web", 51, 150, 1.0, 2)
    assert [str(vip) for vip in web.vips] == ["198.51.100.10/32 on eth0"]
    assert ha.sync == SyncDaemon(syncid=7, interface="eth0")
    assert ha.backup_only is False and web.track_agent is True


def test_no_ha_section_means_a_lone_director():
    doc = example("ha-director")
    del doc["director"]["ha"]
    assert parse_document(doc).director.ha is None


def test_two_instances_need_two_names_and_two_vrids_on_one_interface():
    doc = ha_doc()
    second = copy.deepcopy(doc["director"]["ha"]["instances"][0])
    second["vips"] = [{"address": "198.51.100.11", "prefix": 32, "interface": "eth0"}]
    doc["director"]["ha"]["instances"].append(second)
    assert problems(doc) == [
        ("$.director.ha.instances[1].name", "'web' is already the name of $.director.ha.instances[0]"),
        ("$.director.ha.instances[1].vrid", "VRID 51 on eth0 is already used by $.director.ha.instances[0]"),
    ]
    second.update(name="api", vrid=52)
    assert len(parse_document(doc).director.ha.instances) == 2
    second.update(vrid=51, interface="eth1")  # another segment: the same VRID is fine
    assert len(parse_document(doc).director.ha.instances) == 2


def test_unicast_peers_go_with_a_unicast_source():
    path = "$.director.ha.instances[0]"
    assert problems(ha_doc(unicast_source="192.0.2.1")) == [
        (f"{path}.unicast_peers", "unicast VRRP (unicast_source set) needs the other directors' addresses")
    ]
    assert problems(ha_doc(unicast_peers=["192.0.2.2"])) == [
        (f"{path}.unicast_source", "unicast_peers need this director's own address in unicast_source")
    ]
    web = parse_document(ha_doc(unicast_source="192.0.2.1", unicast_peers=["192.0.2.2"])).director.ha.instances[0]
    assert web.unicast_peers == ("192.0.2.2",)


def test_one_family_per_instance():
    vips = [
        {"address": "198.51.100.10", "prefix": 32, "interface": "eth0"},
        {"address": "2001:db8::10", "prefix": 128, "interface": "eth0"},
    ]
    assert problems(ha_doc(vips=vips)) == [
        (
            "$.director.ha.instances[0].vips",
            "IPv4 and IPv6 VIPs in one VRRP instance: VRRP speaks one family; use two instances",
        )
    ]


def test_a_vip_is_moved_by_vrrp_or_held_for_good_not_both():
    doc = ha_doc()
    doc["director"]["vips"] = [{"address": "198.51.100.10", "prefix": 32, "interface": "eth0"}]
    assert problems(doc) == [
        (
            "$.director.ha.instances[0].vips[0]",
            "198.51.100.10 is also in director.vips: a VIP is either held for good or moved by VRRP",
        )
    ]


def test_password_authentication_only_with_vrrp_version_2():
    assert problems(ha_doc(auth_pass="secret", advert_int=0.5)) == [
        (
            "$.director.ha.instances[0].auth_pass",
            "VRRP authentication exists only in VRRP version 2 (IPv4, whole-second advert_int)",
        )
    ]


@pytest.mark.parametrize(
    ("field", "value"),
    [("vrid", 0), ("vrid", 256), ("priority", 255), ("name", "has space"), ("auth_pass", "toolongpass"),
     ("auth_pass", "a#b"), ("advert_int", 0), ("interface", "x" * 16)],
)  # fmt: skip
def test_the_schema_refuses_out_of_range_fields(field, value):
    (path, _), *_ = problems(ha_doc(**{field: value}))
    assert path == f"$.director.ha.instances[0].{field}"


# -- the keepalived configuration ------------------------------------------------------------------------
def render(doc: dict, directory: Path = Path("/var/lib/lvsweb-agent/ha")) -> str:
    return keepalived.render_config(parse_document(doc).director.ha, directory)


def test_the_configuration_is_vrrp_only_with_the_documents_settings():
    text = render(ha_doc(preempt=False, auth_pass="s3cret", unicast_source="192.0.2.1", unicast_peers=["192.0.2.2"]))
    assert "router_id director1" in text and "virtual_server" not in text
    for line in (
        "vrrp_instance web {",
        "    state BACKUP",
        "    interface eth0",
        "    virtual_router_id 51",
        "    priority 150",
        "    advert_int 1",
        "    nopreempt",
        "    unicast_src_ip 192.0.2.1",
        "        192.0.2.2",
        "        auth_pass s3cret",
        "        198.51.100.10/32 dev eth0",
        "        lvsweb_agent_fit",
        '    notify "/var/lib/lvsweb-agent/ha/notify.sh"',
    ):
        assert line in text.splitlines(), line


def test_fractional_adverts_use_vrrp_version_3_and_preempt_delay_is_written():
    text = render(ha_doc(advert_int=0.5, preempt_delay=30))
    assert "    version 3" in text and "    advert_int 0.5" in text and "    preempt_delay 30" in text


def test_without_agent_tracking_there_is_no_track_script():
    text = render(ha_doc(track_agent=False))
    assert "vrrp_script" not in text and "track_script" not in text


def keepalived_accepts(text: str, directory: Path) -> subprocess.CompletedProcess:
    keepalived.write_files(directory, text, program=None)
    return subprocess.run(
        [keepalived.KEEPALIVED, "--config-test", "-f", str(directory / keepalived.CONFIG)],
        capture_output=True,
        text=True,
        timeout=30,
    )


def test_keepalived_itself_accepts_the_configuration(tmp_path):
    text = render(ha_doc(auth_pass="lab", unicast_source="192.0.2.1", unicast_peers=["192.0.2.2"]), tmp_path)
    done = keepalived_accepts(text, tmp_path)
    assert done.returncode == 0, done.stderr
    assert keepalived_accepts(text.replace("priority 150", "priority 150\n    bogus 1"), tmp_path).returncode != 0


def test_a_configuration_keepalived_refuses_is_not_written(tmp_path):
    good = render(ha_doc(), tmp_path)
    keepalived.write_files(tmp_path, good)
    with pytest.raises(OSError, match=r"keepalived refuses the configuration: .*Unknown keyword 'bogus'"):
        keepalived.write_files(tmp_path, good.replace("priority 150", "priority 150\n    bogus 1"))
    assert (tmp_path / keepalived.CONFIG).read_text() == good


instances = st.fixed_dictionaries(
    {
        "priority": st.integers(1, 254),
        "preempt": st.booleans(),
        "advert_int": st.sampled_from([1, 2, 0.5, 0.25, 10]),
        "track_agent": st.booleans(),
        "vrid": st.integers(1, 255),
        "name": st.from_regex(r"[A-Za-z0-9_.-]{1,32}", fullmatch=True),
    }
)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(instance=instances)
def test_any_valid_instance_renders_a_configuration_keepalived_accepts(instance, tmp_path):
    done = keepalived_accepts(render(ha_doc(**instance), tmp_path), tmp_path)
    assert done.returncode == 0, done.stderr


def test_the_fast_check_knows_the_ha_section():
    assert conforms(example("ha-director"))  # no detour through the whole-document jsonschema run
    assert not conforms(ha_doc(vrid=0)) and not conforms(ha_doc(bogus=1))
