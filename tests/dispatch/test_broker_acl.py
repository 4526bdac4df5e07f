"""The broker is a trust boundary: an enrolled host's Redis user reaches its own queue and `control`, nothing else.

Everything is real: Redis 7 ACL users made by enrollment, kombu consumers, channels_redis, the agent's
Celery worker process. The users are this test run's own (tests/conftest.py names them with a unique
prefix and deletes them at the end); the keys are those of the hosts each test enrolls, in the test's
Redis database.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis
from asgiref.sync import async_to_sync
from celery import Celery
from channels_redis.core import RedisChannelLayer
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.conf import settings
from django.core.management import call_command
from django.test import Client
from kombu import Connection
from lvsweb_agent.broker import agent_queues, binding_keys, queue_keys, unacked_keys
from lvsweb_agent.config import AgentConfig, write_config
from lvsweb_agent.envelope import generate_private_key, open_envelope, private_key_pem, public_key_text

from audit.models import AuditEntry
from clusters.models import Host
from dispatch import actions
from dispatch.broker_acl import hash_password
from dispatch.models import BrokerAccount, EnrollmentToken
from dispatch.signing import control_public_key_text, seal_command
from lvsweb.celery import app as console_celery
from tests.agent.spare_redis import SpareRedis
from tests.factories import make_host

pytestmark = [pytest.mark.django_db, pytest.mark.timeout(120)]

REPO = Path(__file__).resolve().parents[2]
CHANNELS_PREFIX = settings.CHANNEL_LAYERS["default"]["CONFIG"]["prefix"]


@dataclass
class Enrolled:
    """A host enrolled through the real action, with what its agent was given."""

    host: Host
    key: Ed25519PrivateKey
    url: str

    @property
    def queue(self) -> str:
        return self.host.queue

    @property
    def username(self) -> str:
        return BrokerAccount.objects.get(host=self.host).username

    def client(self) -> redis.Redis:
        """A Redis connection with the host's own credentials, as its agent has them."""
        return redis.Redis.from_url(self.url, socket_timeout=10)


def admin() -> redis.Redis:
    """The console's own connection (the default user on a test box)."""
    return redis.Redis.from_url(settings.CELERY_BROKER_URL, socket_timeout=10)


def enroll(host: Host) -> Enrolled:
    """Enroll `host` as `lvsweb-agent enroll` would: a token, then the agent's key."""
    _, token = actions.create_enrollment_token(acting_user=None, host=host)
    key = generate_private_key()
    answer = actions.enroll_host(token=token, public_key=public_key_text(key), facts={})
    return Enrolled(host=Host.objects.get(pk=host.pk), key=key, url=answer["broker_url"])


@pytest.fixture
def enrolled():
    """Enroll new hosts with unique names; their queues, unacked and binding keys are deleted afterwards."""
    made: list[Enrolled] = []

    def make() -> Enrolled:
        made.append(enroll(make_host(hostname=f"acl-{uuid.uuid4().hex[:10]}")))
        return made[-1]

    yield make
    with admin() as client:
        for host in made:
            keys = [*queue_keys(host.queue), *unacked_keys(host.queue).values(), *binding_keys(host.queue)]
            client.delete(*keys)


def refused(call, *args):
    """The error Redis answered `call(*args)` with; fails the test if Redis did it."""
    with pytest.raises(redis.exceptions.NoPermissionError) as raised:
        call(*args)
    return str(raised.value)


# -- what one host's credentials reach --------------------------------------------------------------------------
def test_a_host_cannot_read_another_hosts_queue(enrolled):
    a, b = enrolled(), enrolled()
    console_celery.send_task("lvsweb.agent.command", args=[seal_command({"host": b.host.hostname})], queue=b.queue)
    with a.client() as client:
        assert "no permissions to access" in refused(client.rpop, b.queue)
        refused(client.brpop, [b.queue], 1)
        refused(client.lrange, b.queue, 0, -1)
        refused(client.llen, b.queue)
        refused(client.keys, "*")  # no listing, no scanning
        refused(client.scan)
    with Connection(a.url, transport_options=unacked_keys(a.queue)) as connection:
        simple = connection.SimpleQueue(agent_queues(b.queue)[0])  # kombu as the agent would consume
        with pytest.raises(redis.exceptions.NoPermissionError):
            simple.get(timeout=1)
        simple.close()
    with admin() as client:
        assert client.llen(b.queue) == 1  # B's command is still there for B


def test_a_host_cannot_read_another_hosts_messages_in_flight(enrolled):
    a, b = enrolled(), enrolled()
    console_celery.send_task("lvsweb.agent.command", args=[seal_command({"host": b.host.hostname})], queue=b.queue)
    # B's agent has taken its command and not acknowledged it yet (acks_late: while it runs).
    with Connection(b.url, transport_options=unacked_keys(b.queue)) as connection:
        simple = connection.SimpleQueue(agent_queues(b.queue)[0])
        message = simple.get(timeout=5)
        with admin() as client:
            in_flight = client.hgetall(unacked_keys(b.queue)["unacked_key"])
            assert len(in_flight) == 1 and b.host.hostname.encode() in next(iter(in_flight.values()))
            assert not client.hexists("unacked", message.delivery_tag)  # not in kombu's shared hash
        with a.client() as client:
            refused(client.hgetall, unacked_keys(b.queue)["unacked_key"])
            refused(client.zrange, unacked_keys(b.queue)["unacked_index_key"], 0, -1)
            refused(client.hgetall, "unacked")  # the console's own in-flight reports
        message.ack()
        simple.close()


def test_a_host_cannot_publish_into_the_channel_layer(enrolled):
    a = enrolled()
    console = RedisChannelLayer(hosts=[settings.REDIS_URL], prefix=CHANNELS_PREFIX)
    forged = RedisChannelLayer(hosts=[a.url], prefix=CHANNELS_PREFIX)
    group = f"cluster-{uuid.uuid4().hex[:8]}"

    async def attempt() -> tuple[BaseException | None, dict | None]:
        browser = await console.new_channel()
        await console.group_add(group, browser)
        try:
            try:
                await forged.group_send(group, {"type": "deployment.event", "status": "applied"})
                error = None
            except Exception as exc:
                error = exc
            try:
                received = await asyncio.wait_for(console.receive(browser), timeout=1.5)
            except TimeoutError:
                received = None
            return error, received
        finally:
            await console.group_discard(group, browser)
            await console.close_pools()
            await forged.close_pools()

    error, received = async_to_sync(attempt)()
    assert isinstance(error, redis.exceptions.NoPermissionError), error
    assert received is None  # the browser saw nothing
    with a.client() as client:
        refused(client.zadd, f"{CHANNELS_PREFIX}:group:{group}", {"forged": 1})
        refused(client.lpush, f"{CHANNELS_PREFIX}:specific.forged!", "x")
        refused(client.lpush, "asgi:forged", "x")
        refused(client.publish, f"{CHANNELS_PREFIX}:group:{group}", "x")


def test_a_host_may_push_to_control_but_not_read_it_nor_reroute_it(enrolled):
    a = enrolled()
    with a.client() as client:
        assert client.lpush("control", "a report") >= 1
        refused(client.rpop, "control")
        refused(client.lrange, "control", 0, -1)
        assert client.smembers("_kombu.binding.control")  # how kombu finds where `control` goes
        refused(client.sadd, "_kombu.binding.control", f"control\x06\x16\x06\x16{a.queue}")
        refused(client.delete, "_kombu.binding.control")
        refused(client.sadd, binding_keys(a.queue)[0], "x")  # not even its own routing
    with admin() as client:
        assert client.lrem("control", 1, "a report") == 1


def plan_command(host: Host, deployment: int) -> dict:
    """A `plan` command for `host`, signed by the console."""
    now = time.time()
    document = {"version": 1, "host": host.hostname, "revision": 1, "director": None, "real_server": None}
    return seal_command(
        {
            "kind": "plan",
            "host": host.hostname,
            "serial": 1,
            "cluster": "edge",
            "cluster_revision": 1,
            "deployment": deployment,
            "issued_at": now,
            "expires_at": now + 60,
            "document": document,
        }
    )


@contextlib.contextmanager
def agent_process(a: Enrolled, tmp_path: Path) -> Iterator[Path]:
    """`lvsweb-agent run` with the configuration enrollment gave `a`; yields its log file."""
    key_file = tmp_path / "host-key.pem"
    key_file.write_bytes(private_key_pem(a.key))
    key_file.chmod(0o600)
    config = AgentConfig(
        broker_url=a.url,
        host=a.host.hostname,
        queue=a.queue,
        control_public_key=control_public_key_text(),
        private_key_file=str(key_file),
        heartbeat_interval=30,
        root=str(tmp_path),
    )
    config_file = write_config(config, tmp_path / "agent.json")
    env = {name: value for name, value in os.environ.items() if not name.startswith(("DJANGO", "LVSWEB_AGENT"))}
    log_file = tmp_path / "agent.log"
    with log_file.open("wb") as log:
        agent = subprocess.Popen(
            [sys.executable, "-m", "lvsweb_agent.cli", "run", "--config", str(config_file)],
            cwd=REPO,
            env=env,
            stdout=log,
            stderr=log,
        )
    try:
        yield log_file
    finally:
        agent.send_signal(signal.SIGTERM)
        agent.wait(timeout=20)


def wait_for_plan(broker_url: str, a: Enrolled, deployment: int, timeout: float = 40) -> bool:
    """Whether a `plan` report for `deployment`, signed by `a`'s key, arrives in `control` within `timeout`."""
    with Connection(broker_url) as connection:
        control = connection.SimpleQueue("control")
        deadline = time.monotonic() + timeout
        try:
            while time.monotonic() < deadline:
                try:
                    message = control.get(timeout=1)
                except control.Empty:
                    continue
                message.ack()
                (envelope,), _, _ = message.decode()
                payload = open_envelope(envelope, a.key.public_key())  # signed by A
                if payload["kind"] == "plan" and payload.get("deployment") == deployment:
                    return True
        finally:
            control.close()
    return False


def test_the_agent_worker_runs_under_its_own_user(enrolled, tmp_path):
    """The real `lvsweb-agent run` consumes its queue, acknowledges, and reports, and Redis refused it nothing."""
    a = enrolled()
    console_celery.send_task("lvsweb.agent.command", args=[plan_command(a.host, 4242)], queue=a.queue)
    with agent_process(a, tmp_path) as log_file:
        assert wait_for_plan(settings.CELERY_BROKER_URL, a, 4242), log_file.read_text()
    with admin() as client:
        assert client.llen(a.queue) == 0  # taken
        assert client.hlen(unacked_keys(a.queue)["unacked_key"]) == 0  # and acknowledged
        denied = [entry for entry in client.acl_log(count=500) if entry["username"] == a.username]
    assert denied == [], denied
    assert "NOPERM" not in log_file.read_text()


# -- the users' lifecycle ---------------------------------------------------------------------------------------
def test_the_enrollment_answer_carries_the_hosts_own_user_and_only_a_hash_is_kept(enrolled):
    a = enrolled()
    account = BrokerAccount.objects.get(host=a.host)
    password = redis.connection.parse_url(a.url)["password"]
    assert account.username == f"{settings.BROKER_USER_PREFIX}{a.host.hostname}"
    assert account.password_sha256 == hash_password(password) and password not in str(vars(account))
    with a.client() as client:
        assert client.ping()
        assert redis.connection.parse_url(a.url)["username"] == account.username
        refused(client.acl_whoami)  # no administration at all
    with admin() as client:
        user = client.acl_getuser(account.username)
    assert user["passwords"] == [account.password_sha256]
    assert user["channels"] == [] and "+@all" not in user["commands"]
    entry = AuditEntry.objects.get(action="host.enroll", object_id=str(a.host.pk))
    assert account.username in entry.message and password not in entry.message


def test_revocation_deletes_the_user_and_ends_its_connections(enrolled, django_capture_on_commit_callbacks):
    a = enrolled()
    username = a.username
    connected = a.client()
    assert connected.ping()
    with django_capture_on_commit_callbacks(execute=True):
        actions.revoke_host(acting_user=None, host=a.host)
    assert not BrokerAccount.objects.filter(host=a.host).exists()
    with pytest.raises(redis.exceptions.ConnectionError):
        connected.ping()  # the open connection was closed
    with pytest.raises(redis.exceptions.AuthenticationError):
        a.client().ping()  # and the password is worthless
    with admin() as client:
        assert username not in client.acl_users()


def test_deleting_a_host_deletes_its_user(enrolled, django_capture_on_commit_callbacks):
    from clusters.actions.hosts import delete_host

    a = enrolled()
    username = a.username
    with django_capture_on_commit_callbacks(execute=True):
        delete_host(acting_user=None, host=a.host)
    with pytest.raises(redis.exceptions.AuthenticationError):
        a.client().ping()
    with admin() as client:
        assert username not in client.acl_users()


def test_enrolling_again_rotates_the_password(enrolled):
    first = enrolled()
    old = first.client()
    assert old.ping()
    second = enroll(first.host)
    assert second.url != first.url
    with pytest.raises(redis.exceptions.ConnectionError):
        old.ping()  # the old password's connections are ended
    with pytest.raises(redis.exceptions.AuthenticationError):
        first.client().ping()
    with second.client() as client:
        assert client.ping()


def test_a_user_a_restarted_broker_forgot_is_made_again_from_the_stored_hash(settings, tmp_path):
    """A Redis without an ACL file forgets every user when it restarts; `sync_broker_users` restores them."""
    broker = SpareRedis(tmp_path).start()
    try:
        settings.BROKER_ADMIN_URL = settings.AGENT_BROKER_URL = broker.url
        a = enroll(make_host(hostname="restarted"))
        with a.client() as client:
            assert client.ping()
        with redis.Redis.from_url(broker.url) as client:  # someone else's user must survive the sync
            client.acl_setuser("not-ours", enabled=True, nopass=True)
            client.acl_setuser(f"{settings.BROKER_USER_PREFIX}ghost", enabled=True, nopass=True)
        call_command("sync_broker_users", stdout=(out := _Text()))
        assert out.text.strip() == f"Broker users: 0 re-created, 1 deleted: {settings.BROKER_USER_PREFIX}ghost."
        with redis.Redis.from_url(broker.url) as client:
            assert "not-ours" in client.acl_users()

        broker.stop()
        broker.start()
        with pytest.raises(redis.exceptions.AuthenticationError):
            a.client().ping()
        call_command("sync_broker_users", stdout=(out := _Text()))
        assert out.text.strip() == f"Broker users: 1 re-created: {a.username}, 0 deleted."
        with a.client() as client:
            assert client.ping()  # the agent's own password, which the console never kept
            assert client.smembers("_kombu.binding.control")  # and `control` can be published to again
        entry = AuditEntry.objects.filter(action="host.broker_user").get()
        assert entry.actor_type == "system" and "re-created" in entry.message
    finally:
        broker.stop()


def test_a_running_agent_gets_back_in_once_its_forgotten_user_is_made_again(settings, tmp_path):
    broker = SpareRedis(tmp_path).start()
    try:
        settings.BROKER_ADMIN_URL = settings.AGENT_BROKER_URL = broker.url
        a = enroll(make_host(hostname="comes-back"))
        console = Celery("console-under-test", broker=broker.url, set_as_current=False)
        console.conf.update(task_serializer="json", accept_content=["json"])
        with agent_process(a, tmp_path) as log_file:
            console.send_task("lvsweb.agent.command", args=[plan_command(a.host, 1)], queue=a.queue)
            assert wait_for_plan(broker.url, a, 1), log_file.read_text()
            broker.stop()
            broker.start()  # empty, without the agent's user
            time.sleep(3)  # the agent is refused meanwhile, and keeps trying
            call_command("sync_broker_users", stdout=_Text())
            console.send_task("lvsweb.agent.command", args=[plan_command(a.host, 2)], queue=a.queue)
            assert wait_for_plan(broker.url, a, 2, timeout=60), log_file.read_text()
        log = log_file.read_text()
        assert "WRONGPASS" in log or "invalid username-password" in log  # it was refused in between
    finally:
        broker.stop()


class _Text:
    """A stdout for call_command that keeps what was written."""

    def __init__(self):
        self.text = ""

    def write(self, text: str) -> None:
        self.text += text

    def flush(self) -> None:
        pass


# -- when the broker cannot do it -------------------------------------------------------------------------------
def enroll_over_http(host: Host) -> tuple[int, dict]:
    _, token = actions.create_enrollment_token(acting_user=None, host=host)
    key = public_key_text(generate_private_key())
    response = Client().post("/api/agent/enroll/", {"token": token, "public_key": key}, content_type="application/json")
    return response.status_code, response.json()


def test_a_broker_without_acl_refuses_enrollment_with_the_way_out(settings, tmp_path):
    broker = SpareRedis(tmp_path, "--rename-command", "ACL", "").start()  # as a Redis older than 6
    try:
        settings.BROKER_ADMIN_URL = settings.AGENT_BROKER_URL = broker.url
        host = make_host(hostname="old-redis")
        status, body = enroll_over_http(host)
    finally:
        broker.stop()
    assert status == 503
    assert body["detail"] == (
        "Enrollment is not possible now: the broker does not support ACL users (Redis 6 or later is needed): "
        "upgrade Redis, or set LVSWEB_BROKER_ACL=off to give every agent the shared AGENT_BROKER_URL (no "
        "isolation between hosts)."
    )
    host.refresh_from_db()
    assert host.enrolled_at is None and not host.public_key
    assert EnrollmentToken.objects.get(host=host).used_at is None  # the token can be used once fixed


def test_a_console_not_allowed_to_manage_users_says_so(settings, broker_user_prefix):
    name, password = f"{broker_user_prefix}console-without-acl", uuid.uuid4().hex
    with admin() as client:
        client.acl_setuser(name, enabled=True, passwords=[f"+{password}"], keys=["*"], commands=["+@all", "-acl"])
    try:
        url = settings.CELERY_BROKER_URL.replace("redis://", f"redis://{name}:{password}@", 1)
        settings.BROKER_ADMIN_URL = url
        host = make_host(hostname="no-right")
        status, body = enroll_over_http(host)
    finally:
        with admin() as client:
            client.acl_deluser(name)
    assert status == 503
    assert (
        "the console's Redis user (LVSWEB_BROKER_ADMIN_URL, else REDIS_URL) may not manage ACL users"
        in (body["detail"])
    )
    host.refresh_from_db()
    assert host.enrolled_at is None


def test_with_acl_off_agents_get_the_shared_url(settings):
    settings.BROKER_ACL = False
    host = make_host(hostname="dev-box")
    status, body = enroll_over_http(host)
    assert status == 200 and body["broker_url"] == settings.AGENT_BROKER_URL
    assert not BrokerAccount.objects.filter(host=host).exists()


def test_the_admin_lists_the_users_without_their_passwords(enrolled, admin_client):
    a = enrolled()
    response = admin_client.get("/admin/agents/brokeraccount/")
    assert response.status_code == 200
    page = response.content.decode()
    assert a.username in page and redis.connection.parse_url(a.url)["password"] not in page
