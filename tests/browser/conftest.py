"""Browser fixtures: the real demo, served by ``inzage demo``, and Debian's Chromium.

The demo runs in a subprocess on a throw-away database of its own (a SQLite
file in a temporary folder, or a fresh PostgreSQL database when
``INZAGE_TEST_DATABASE_URL`` is set), so the autouse fixture that empties the
run's tables between tests never wipes the demo from under the browser.
Every page is a phone: 360 by 740 pixels.
"""

from __future__ import annotations

import asyncio
import os
import re
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pyotp
import pytest

from tests.conftest import PG_URL, _create_pg_database, _drop_pg_database
from tests.servers import serve

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PHONE = {"width": 360, "height": 740}
SERVER_START_TIMEOUT_S = 90
ACTION_TIMEOUT_MS = 10_000
SCHOOL_CODE = "DEMO"

# Reports every Content-Security-Policy violation to Python. Injected by the
# browser before any script of the page runs, so the page's CSP does not apply.
REPORT_CSP_VIOLATIONS = """
document.addEventListener("securitypolicyviolation", (event) => {
  window.reportCspViolation([
    event.violatedDirective, event.blockedURI, event.documentURI,
    String(event.lineNumber), (event.sample || "").slice(0, 80),
  ].join(" | "));
});
"""


@dataclass(frozen=True)
class Account:
    role: str
    email: str
    password: str
    totp_key: str | None = None  # staff: the 2FA key the demo printed


@dataclass(frozen=True)
class Demo:
    """The running demo: its address and the accounts it printed."""

    url: str
    accounts: tuple[Account, ...]
    log: Path | None = None  # what `inzage demo` printed, and the server's log

    def account(self, role_part: str) -> Account:
        """Return the one account whose role mentions ``role_part``."""
        found = [a for a in self.accounts if role_part in a.role]
        assert len(found) == 1, f"no single demo account for {role_part!r}: {found}"
        return found[0]


def read_accounts(path: Path) -> tuple[Account, ...]:
    """Parse demo-accounts.txt: tab-separated role, e-mail, password, 2FA key."""
    accounts = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        role, email, password, key = line.split("\t")
        if password:
            accounts.append(Account(role, email, password, key or None))
    return tuple(accounts)


def _playwright_or_skip():
    if not CHROMIUM.exists():
        pytest.skip("Debian's chromium is not installed: apt-get install chromium")
    try:
        from playwright.async_api import async_playwright
    except ImportError:
        pytest.skip("playwright is not installed: pip install -e '.[test]'")
    return async_playwright


@pytest.fixture(scope="package")
async def demo_database_url(tmp_path_factory):
    """Return a database URL that only the demo under test uses."""
    if PG_URL:
        url = await _create_pg_database(PG_URL)
        yield url
        await _drop_pg_database(PG_URL, url)
    else:
        folder = tmp_path_factory.mktemp("demo-db")
        yield f"sqlite://{folder / 'inzage.sqlite3'}"


@pytest.fixture(scope="package")
def demo(tmp_path_factory, demo_database_url) -> Demo:
    """Run ``inzage demo --port N`` as a person would, and stop it afterwards."""
    _playwright_or_skip()
    data_dir = tmp_path_factory.mktemp("demo-data")
    env = {
        **os.environ,
        "INZAGE_ENV": "development",
        "INZAGE_DATA_DIR": str(data_dir),
        "INZAGE_DATABASE_URL": demo_database_url,
    }
    command = [sys.executable, "-m", "web.cli", "demo", "--port", "{port}"]
    log_path = data_dir / "demo.log"
    with serve(command, env, log_path, SERVER_START_TIMEOUT_S) as url:
        yield Demo(url, read_accounts(data_dir / "demo-accounts.txt"), log_path)


@pytest.fixture(scope="package")
async def browser(demo):
    """Launch Debian's Chromium, never a browser downloaded by a test tool."""
    async_playwright = _playwright_or_skip()
    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS
        )
        yield chromium
        await chromium.close()


class Watcher:
    """Collects what went wrong in a browser context: CSP and script errors."""

    def __init__(self) -> None:
        self.violations: list[str] = []
        self.page_errors: list[str] = []
        self.console_errors: list[str] = []
        self.urls: list[str] = []

    def on_violation(self, report: str) -> None:
        self.violations.append(report)

    def on_console(self, message) -> None:
        if message.type != "error":
            return
        text = message.text
        if "Content Security Policy" in text or "Content-Security-Policy" in text:
            self.violations.append("console: " + text)
        # The browser asks for /favicon.ico by itself; the product has none.
        elif not message.location.get("url", "").endswith("/favicon.ico"):
            self.console_errors.append(f"{text} ({message.location.get('url')})")

    def watch(self, page) -> None:
        page.on("console", self.on_console)
        page.on("pageerror", lambda error: self.page_errors.append(str(error)))
        page.on("request", lambda request: self.urls.append(request.url))


@pytest.fixture
async def watcher() -> Watcher:
    return Watcher()


@pytest.fixture
async def new_context(browser, watcher):
    """Return a factory of fresh phone-sized contexts: no cookies, no storage.

    Every page in them reports to the test's watcher; all close at the end.
    """
    opened = []

    async def _new_context():
        ctx = await browser.new_context(viewport=PHONE, locale="nl-NL")
        opened.append(ctx)
        ctx.set_default_timeout(ACTION_TIMEOUT_MS)
        await ctx.expose_function("reportCspViolation", watcher.on_violation)
        await ctx.add_init_script(REPORT_CSP_VIOLATIONS)
        ctx.on("page", watcher.watch)
        return ctx

    yield _new_context
    for ctx in opened:
        await ctx.close()


@pytest.fixture
async def page(new_context):
    """A page in a fresh phone-sized context."""
    ctx = await new_context()
    return await ctx.new_page()


async def sign_in(page, demo: Demo, account: Account) -> None:
    """Sign in through the form, as a parent on a phone does."""
    await page.goto(demo.url + "/login")
    await page.fill("#school", SCHOOL_CODE)
    await page.fill("#email", account.email)
    await page.fill("#password", account.password)
    async with page.expect_navigation():
        await page.click("form.stack button[type=submit]")
    assert not page.url.endswith("/login"), await sign_in_trouble(page)
    if page.url.endswith("/login/code"):
        await enter_code(page, account)


# The last time step each key's code was used for: the portal takes a step
# once, so signing the same account in twice within 30 s needs the next one.
_used_steps: dict[str, int] = {}


async def fresh_code(key: str) -> str:
    """Return a code of the key that the portal has not seen yet."""
    totp_ = pyotp.TOTP(key)
    step = int(time.time() // 30)
    wanted = max(step, _used_steps.get(key, -1) + 1)
    if wanted > step + 1:  # only one step ahead is accepted: wait for it
        await asyncio.sleep((wanted - 1) * 30 - time.time() + 0.5)
    _used_steps[key] = wanted
    return totp_.generate_otp(wanted)


async def enter_code(page, account: Account) -> None:
    """Give the code from the account's authenticator key, as staff do."""
    assert account.totp_key, f"{account.role} needs a 2FA key to sign in"
    await page.fill("#code", await fresh_code(account.totp_key))
    async with page.expect_navigation():
        await page.click("form.stack button[type=submit]")
    assert not page.url.endswith("/login/code"), await sign_in_trouble(page)


async def sign_in_trouble(page) -> str:
    return "sign-in failed: " + re.sub(r"\s+", " ", await page.inner_text("main"))


async def sign_out(page) -> None:
    async with page.expect_navigation():
        await page.locator("nav.account form button").click()


async def records(page) -> int:
    """Count the records shown in the section on the page."""
    return await page.locator("#records li.record").count()
