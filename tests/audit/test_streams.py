"""Checkpoints after commits, and streaming to a real rsyslog through the real Celery control worker."""

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command
from django.db import connection, transaction

from audit import keys, verify
from audit import streaming as audit_streaming
from audit.models import AuditCheckpoint, AuditEntry, AuditSink
from audit.recording import record
from clusters import actions
from lvsweb.celery import app as celery_app
from tests.certificates import self_signed
from tests.factories import default_team

pytestmark = pytest.mark.django_db(transaction=True)
REPO = Path(__file__).resolve().parents[2]


def wait_for(condition, timeout=30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.2)
    return False


def checkpoint_lines() -> list[dict]:
    path = Path(settings.AUDIT_CHECKPOINT_FILE)
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def test_a_checkpoint_follows_the_commit_that_reaches_every_nth_entry_and_never_a_rollback(settings):
    settings.AUDIT_CHECKPOINT_EVERY = 3
    first = AuditEntry.objects.order_by("-id").values_list("id", flat=True).first() or 0
    # Start the test at an entry id just after a multiple of three, whatever the sequence says.
    with connection.cursor() as cursor:
        cursor.execute("SELECT setval(pg_get_serial_sequence('audit_auditentry', 'id'), %s)", [(first // 3 + 1) * 3])
    ids = []
    for number in range(4):
        with transaction.atomic():
            record(action=f"test.one{number}")
        ids.append(AuditEntry.objects.order_by("-id").first().pk)
    assert [line["entry"] for line in checkpoint_lines()] == [ids[2]]
    with transaction.atomic():  # would reach the next multiple, but rolls back
        record(action="test.two")
        record(action="test.three")
        transaction.set_rollback(True)
    assert [line["entry"] for line in checkpoint_lines()] == [ids[2]]
    with transaction.atomic():  # two entries in one commit, the second on the multiple
        record(action="test.four")
        record(action="test.five")
    entries = list(AuditEntry.objects.order_by("id").values_list("id", "hash"))
    lines = checkpoint_lines()
    assert [line["entry"] for line in lines] == [ids[2], entries[-1][0]]
    assert lines[-1]["hash"] == entries[-1][1] and lines[-1]["count"] == len(entries)
    checkpoints, problems = verify.read_checkpoints(
        Path(settings.AUDIT_CHECKPOINT_FILE).read_text().splitlines(), [keys.signing_public_key()]
    )
    assert len(checkpoints) == 2 and not problems


def make_certificate(directory: Path) -> Path:
    """A self-signed certificate for 127.0.0.1 (and its key, key.pem), as a private syslog CA would issue."""
    made = self_signed(common_name="127.0.0.1")
    (directory / "key.pem").write_bytes(made.key)
    path = directory / "ca.pem"
    path.write_bytes(made.certificate)
    return path


class Rsyslog:
    """Debian's rsyslogd listening on 127.0.0.1 (imtcp, plain or TLS) or on a local datagram socket (imuxsock),
    writing each message's MSGID and MSG to a file."""

    def __init__(self, directory: Path, mode: str = "tcp"):
        self.directory, self.mode = directory, mode
        self.received = directory / "received.log"
        self.socket_path = directory / "log"
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.config = directory / "rsyslog.conf"
        tls = ""
        if mode == "tls":
            self.ca_file = make_certificate(directory)
            tls = (
                f' DefaultNetstreamDriver="gtls" DefaultNetstreamDriverCAFile="{self.ca_file}"'
                f' DefaultNetstreamDriverCertFile="{self.ca_file}"'
                f' DefaultNetstreamDriverKeyFile="{directory / "key.pem"}"'
            )
        if mode == "unix":
            inputs = (
                'module(load="imuxsock" SysSock.Use="off")\n'
                f'input(type="imuxsock" Socket="{self.socket_path}" ruleset="audit" useSpecialParser="off"'
                ' parseHostname="on")\n'
            )
        else:
            driver = ' StreamDriver.Name="gtls" StreamDriver.Mode="1" StreamDriver.AuthMode="anon"' if tls else ""
            inputs = (
                f'module(load="imtcp"{driver})\n'
                f'input(type="imtcp" address="127.0.0.1" port="{self.port}" ruleset="audit")\n'
            )
        self.config.write_text(
            f'global(workDirectory="{directory}" maxMessageSize="64k"{tls})\n'
            'template(name="line" type="string" string="%msgid% %msg%\\n")\n'
            f'ruleset(name="audit") {{ action(type="omfile" file="{self.received}" template="line") }}\n' + inputs
        )
        self.process: subprocess.Popen | None = None

    @property
    def target(self) -> str:
        """The LVSWEB_AUDIT_SYSLOG value that points at this receiver."""
        return f"unix://{self.socket_path}" if self.mode == "unix" else f"{self.mode}://127.0.0.1:{self.port}"

    def start(self) -> "Rsyslog":
        binary = shutil.which("rsyslogd") or "/usr/sbin/rsyslogd"
        pidfile = self.directory / "rsyslogd.pid"
        pidfile.unlink(missing_ok=True)
        self.process = subprocess.Popen(
            [binary, "-n", "-f", str(self.config), "-i", str(pidfile)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

        def listening():
            if self.mode == "unix":
                return self.socket_path.exists()
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return True
            except OSError:
                return False

        assert wait_for(listening, 15), "rsyslogd did not start listening"
        return self

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=15)

    def lines(self) -> list[tuple[str, dict]]:
        if not self.received.exists():
            return []
        out = []
        for line in self.received.read_text().splitlines():
            msgid, _, message = line.partition(" ")
            out.append((msgid, json.loads(message)))
        return out


@pytest.fixture
def rsyslog(tmp_path):
    server = Rsyslog(tmp_path).start()
    yield server
    server.stop()


@pytest.fixture
def streaming(settings, rsyslog, tmp_path):
    """This installation streams to the rsyslog above and to a file; checkpoints every 3 entries."""
    settings.AUDIT_SYSLOG = rsyslog.target
    settings.AUDIT_STREAM_FILE = str(tmp_path / "audit-stream.jsonl")
    settings.AUDIT_CHECKPOINT_EVERY = 3
    return settings


@pytest.fixture
def worker(streaming):
    """`celery worker -Q control` as `make run` starts it, configured like this installation."""
    db = settings.DATABASES["default"]
    env = dict(
        os.environ,
        DATABASE_URL=f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{connection.settings_dict['NAME']}",
        REDIS_URL=settings.REDIS_URL,
        CELERY_BROKER_URL=settings.CELERY_BROKER_URL,
        LVSWEB_AUDIT_SYSLOG=settings.AUDIT_SYSLOG,
        LVSWEB_AUDIT_STREAM_FILE=settings.AUDIT_STREAM_FILE,
        LVSWEB_AUDIT_CHECKPOINT_EVERY="3",
        LVSWEB_AUDIT_HMAC_KEYS_FILE=settings.AUDIT_HMAC_KEYS_FILE,
        LVSWEB_AUDIT_SIGNING_KEY_FILE=settings.AUDIT_SIGNING_KEY_FILE,
        LVSWEB_AUDIT_CHECKPOINT_FILE=settings.AUDIT_CHECKPOINT_FILE,
    )
    command = [sys.executable, "-m", "celery", "-A", "lvsweb", "worker", "-Q", "control", "-P", "solo"]
    process = subprocess.Popen(
        [*command, "-n", "test-audit@%h", "-l", "warning"],
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    yield process
    process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()


def some_changes(operator, name):
    cluster = actions.create_cluster(acting_user=operator, fields={"team": default_team(), "name": name, "slug": name})
    service = actions.create_virtual_service(
        acting_user=operator,
        cluster=cluster,
        fields={"protocol": "tcp", "address": "198.51.100.10", "port": 80, "scheduler": "rr"},
    )
    for number in range(1, 4):
        actions.create_real_server(
            acting_user=operator, virtual_service=service, fields={"address": f"203.0.113.{number}", "weight": 100}
        )
    actions.update_cluster(acting_user=operator, cluster=cluster, changes={"description": "streamed"})


def delivered_everything(rsyslog):
    def check():
        received = rsyslog.lines()
        entries = [doc["id"] for kind, doc in received if kind == "entry"]
        checkpoints = [doc for kind, doc in received if kind == "checkpoint"]
        return (
            entries == list(AuditEntry.objects.order_by("id").values_list("id", flat=True))
            and len(checkpoints) == AuditCheckpoint.objects.count()
        )

    return check


def test_rsyslog_gets_every_entry_in_order_and_the_checkpoints(operator, rsyslog, worker, streaming, django_user_model):
    some_changes(operator, "east")
    call_command("audit_checkpoint")
    assert wait_for(delivered_everything(rsyslog), 60), rsyslog.lines()

    received = rsyslog.lines()
    entries = {entry.pk: entry for entry in AuditEntry.objects.all()}
    assert len(entries) >= 6 and AuditCheckpoint.objects.count() >= 2
    seen = set()
    trusted = [keys.signing_public_key()]
    for kind, document in received:
        if kind == "entry":
            entry = entries[document["id"]]
            assert document["hash"] == entry.hash and document["mac"] == entry.mac
            assert verify.entry_hash(document) == entry.hash  # the line alone lets a SIEM verify the entry
            seen.add(entry.pk)
        else:
            checkpoint = verify.parse_checkpoint(json.dumps(document), 0, trusted)
            assert checkpoint.entry_id in seen, "a checkpoint line came before the entry it names"
            assert checkpoint.hash == entries[checkpoint.entry_id].hash
    file_lines = [json.loads(line) for line in Path(streaming.AUDIT_STREAM_FILE).read_text().splitlines()]
    assert file_lines == [document for _kind, document in received]
    assert set(AuditSink.objects.values_list("name", "last_error")) == {("syslog", ""), ("file", "")}


def test_an_outage_is_retried_in_order_and_warned_about_meanwhile(
    operator, client, rsyslog, worker, streaming, django_user_model
):
    some_changes(operator, "west")
    assert wait_for(delivered_everything(rsyslog), 60)
    rsyslog.stop()
    some_changes(operator, "north")
    assert wait_for(lambda: AuditSink.objects.filter(name="syslog").exclude(last_error="").exists(), 30)
    newest = AuditEntry.objects.order_by("-id").first().pk

    def file_sink_caught_up() -> bool:
        # The other sink goes on meanwhile (delivered by the worker, shortly after each commit).
        file_sink = AuditSink.objects.get(name="file")
        return file_sink.last_error == "" and file_sink.last_entry_id >= newest

    assert wait_for(file_sink_caught_up, 30)

    client.force_login(operator)  # (itself an entry: auth.login)
    body = client.get("/").content.decode()
    assert f"The audit stream to tcp://127.0.0.1:{rsyslog.port} fails: " in body
    assert "Connection refused" in body

    rsyslog.start()
    celery_app.send_task("lvsweb.audit.deliver")  # what beat sends every few seconds
    assert wait_for(delivered_everything(rsyslog), 60), rsyslog.lines()
    assert "data-audit-stream" not in client.get("/").content.decode()


@pytest.mark.parametrize("mode", ["tls", "unix"])
def test_tls_and_the_local_socket_get_the_same_lines(mode, operator, settings, tmp_path):
    receiver = Rsyslog(tmp_path, mode).start()
    try:
        settings.AUDIT_SYSLOG = receiver.target
        settings.AUDIT_SYSLOG_CA_FILE = str(getattr(receiver, "ca_file", ""))
        some_changes(operator, "south")
        call_command("audit_checkpoint")  # writes the checkpoint and runs a delivery
        assert wait_for(delivered_everything(receiver), 30), receiver.lines()
    finally:
        receiver.stop()


def test_a_receiver_with_an_unknown_certificate_is_refused_and_recorded(operator, settings, tmp_path):
    receiver = Rsyslog(tmp_path, "tls").start()
    try:
        settings.AUDIT_SYSLOG = receiver.target  # the CA is not given: the system's CAs do not know it
        record(action="test.one")
        assert audit_streaming.deliver() == {"syslog": 0}
        assert "certificate verify failed" in AuditSink.objects.get(name="syslog").last_error
        assert receiver.lines() == []
    finally:
        receiver.stop()
