"""Authentication backends: the sign-in guard that refuses locked-out users."""

from axes.backends import AxesStandaloneBackend


class SignInGuard(AxesStandaloneBackend):
    """django-axes' lockout check, for every sign-in that comes with a request.

    Sign-ins over HTTP (the login page, the admin's login, DRF) always pass the request, so they are always
    guarded. Calls without a request — `Client.login()` in tests, scripts that call `authenticate()` — have no
    client address to count failures against; axes would refuse them outright, so they pass through to the
    password check instead.
    """

    def authenticate(self, request, username=None, password=None, **kwargs):
        if request is None:
            return None
        return super().authenticate(request, username=username, password=password, **kwargs)
