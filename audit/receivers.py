"""Sign-in events are recorded from Django's auth signals, which fire for every login, logout and failure."""

from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.dispatch import receiver

from audit.choices import Result
from audit.recording import record


@receiver(user_logged_in, dispatch_uid="audit_login")
def record_login(sender, request, user, **kwargs) -> None:
    record(action="auth.login", acting_user=user, obj=user, object_repr=user.get_username())


@receiver(user_logged_out, dispatch_uid="audit_logout")
def record_logout(sender, request, user, **kwargs) -> None:
    if user is not None:
        record(action="auth.logout", acting_user=user, obj=user, object_repr=user.get_username())


@receiver(user_login_failed, dispatch_uid="audit_login_failed")
def record_login_failed(sender, credentials, request=None, **kwargs) -> None:
    # `credentials` has the password already masked by Django; only the user name is kept.
    username = str(credentials.get("username", ""))[:150]
    record(
        action="auth.login_failed",
        object_type="auth.user",
        object_repr=username,
        result=Result.FAILURE,
        anonymous=True,
        message=f"Failed sign-in for “{username}”.",
    )
