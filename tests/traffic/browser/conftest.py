"""The browser tests' fixtures (daphne, Chromium, a fresh tab, an operator), reused for the traffic pages."""

from tests.browser.conftest import (  # noqa: F401
    chromium,
    console_server,
    operator,
    page,
    pytest_runtest_makereport,
)
