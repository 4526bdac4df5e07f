"""Dispatch models: revisions of a cluster, deployments to hosts, enrollment tokens, agents' broker users."""

from agents.models.broker import BrokerAccount
from agents.models.deployments import Deployment
from agents.models.enrollment import EnrollmentToken
from agents.models.revisions import Revision

__all__ = ["BrokerAccount", "Deployment", "EnrollmentToken", "Revision"]
