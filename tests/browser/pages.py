"""What a user does on every page: sign in, and keep a picture of the page for people to look at."""

from __future__ import annotations

import re
from pathlib import Path

from playwright.sync_api import Page, expect

REPO = Path(__file__).resolve().parents[2]
#: Full-page screenshots of the console's main pages (artifacts/ is gitignored; CI keeps it).
SCREENSHOTS = REPO / "artifacts" / "screenshots"


def sign_in(page: Page, username: str, password: str) -> None:
    """Sign in through the sign-in form, as a person would, and land on the dashboard."""
    page.goto("/accounts/login/")
    page.get_by_label("User name").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(re.compile(r"/$"))
    expect(page.get_by_role("heading", level=1)).to_be_visible()


def screenshot(page: Page, name: str) -> Path:
    """Save the whole page (not only the viewport) as artifacts/screenshots/<name>.png and return the path."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True, animations="disabled")
    return path
