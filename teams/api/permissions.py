"""The REST framework's side of the team policy."""

from django.core.exceptions import PermissionDenied
from rest_framework.permissions import SAFE_METHODS, BasePermission

from teams import policy


class TeamPolicy(BasePermission):
    """Ask the policy about the object of every write; reads are covered by the visible-only querysets.

    A viewset names the policy action of each of its own actions in `policy_actions` (e.g. `destroy`:
    `delete`); anything else that writes needs `change`. Creation is checked by the action it calls, which
    knows the team or cluster the new object goes into.
    """

    def has_object_permission(self, request, view, obj) -> bool:
        if request.method in SAFE_METHODS:
            return policy.can(request.user, policy.VIEW, obj)
        action = getattr(view, "policy_actions", {}).get(view.action, policy.CHANGE)
        if not policy.can(request.user, action, obj):
            self.message = _denial(request.user, action, obj)
            return False
        return True


def _denial(user, action, obj) -> str:
    """The policy's own explanation of a refusal."""
    try:
        policy.require(user, action, obj)
    except PermissionDenied as exc:
        return str(exc)
    return "You may not do this."
