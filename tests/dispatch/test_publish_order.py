"""Every host's command leaves as soon as the apply commits, before the browsers are told of it.

The commit hooks run in the order they were registered, and the first to raise stops the rest: the
commands are registered first, so the channel layer's round trips are not in a host's wait, and a channel
layer out of reach (here a Redis that nothing serves) cannot keep a command from leaving.
"""

import pytest
from channels.layers import channel_layers

from dispatch import actions
from dispatch.models import Deployment
from tests.agent.spare_redis import SpareRedis
from tests.dispatch.broker import take_commands

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(120)]


@pytest.fixture
def browsers_unreachable(tmp_path, settings):
    """The browsers' channel layer on a Redis that is not running."""
    server = SpareRedis(tmp_path)  # never started: its port refuses connections
    config = settings.CHANNEL_LAYERS["default"]
    settings.CHANNEL_LAYERS = {"default": {**config, "CONFIG": {**config["CONFIG"], "hosts": [server.url]}}}
    channel_layers.backends.clear()
    yield
    channel_layers.backends.clear()


def test_every_command_leaves_before_the_browsers_are_told(lab, browsers_unreachable):
    with pytest.raises(Exception):  # noqa: B017 (the broadcast after the commit fails, whatever its error)
        actions.apply_cluster(acting_user=None, cluster=lab.cluster)
    deployments = Deployment.objects.filter(cluster=lab.cluster).select_related("host")
    assert sorted(d.host.hostname for d in deployments) == ["director", "rs1", "rs2"]
    for deployment in deployments:
        [envelope] = take_commands(deployment.host.queue)
        assert envelope["signer"] == "control"
