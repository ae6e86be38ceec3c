"""A guardian's very first sign-in on a phone, from the e-mail link to 2FA.

The demo's guardian who never signed in asks for a link on the "first time
signing in?" form, opens it from the mail folder, chooses a password, signs
in, sets up two-step verification from the account page by typing the key by
hand, keeps the recovery codes, signs out and signs in again with a code.
"""

from __future__ import annotations

import asyncio
import email
import re
import time
from email import policy
from pathlib import Path

import pyotp
import pytest

from models.demo import ACCOUNTS_FILE
from tests.browser.conftest import PHONE, SCHOOL_CODE, sign_in_trouble

pytestmark = pytest.mark.browser

# Long, not common, and free of the person's, the school's and the product's
# names (models/passwords.py), so the policy for a password alone accepts it.
PASSWORD = "zeven okergele xylofoons kwaken zachtjes om 4 uur"
RECOVERY_CODES = 10
MAIL_WAIT_S = 10


def never_signed_in_guardian(demo) -> str:
    """Return the e-mail address of the demo guardian who has no password yet."""
    # demo-accounts.txt lists them with an empty password; the fixture's
    # Demo.accounts leaves them out, so read the file beside the demo's log.
    found = []
    for line in (demo.log.parent / ACCOUNTS_FILE).read_text("utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            role, address, password, _key = line.split("\t")
            if not password and "guardian" in role:
                found.append(address)
    assert len(found) == 1, f"no single never-signed-in guardian: {found}"
    return found[0]


async def newest_mail(folder: Path, to: str, seen: set[Path]):
    """Wait for a new .eml to the address in the mail folder; return it parsed."""
    deadline = time.monotonic() + MAIL_WAIT_S
    while time.monotonic() < deadline:
        new = (
            [p for p in folder.glob("*.eml") if p not in seen]
            if folder.is_dir()
            else []
        )
        for path in sorted(new, key=lambda p: p.stat().st_mtime, reverse=True):
            message = email.message_from_bytes(path.read_bytes(), policy=policy.default)
            if message["To"] == to:
                return message
        await asyncio.sleep(0.1)
    raise AssertionError(f"no e-mail to {to} in {folder} within {MAIL_WAIT_S} s")


async def no_sideways_scroll(page) -> None:
    widths = await page.evaluate(
        "[document.documentElement.scrollWidth, window.innerWidth]"
    )
    assert widths[0] <= widths[1] == PHONE["width"], f"{page.url} is {widths} wide"


async def heading(page) -> str:
    return (await page.locator("main h1").inner_text()).strip()


async def fill_sign_in(page, address: str) -> None:
    await page.get_by_label("Schoolcode").fill(SCHOOL_CODE)
    await page.get_by_label("E-mailadres").fill(address)
    await page.get_by_label("Wachtwoord", exact=True).fill(PASSWORD)
    async with page.expect_navigation():
        await page.get_by_role("button", name="Inloggen", exact=True).click()


async def test_first_sign_in_with_link_password_and_two_step(page, demo, watcher):
    address = never_signed_in_guardian(demo)
    mail_dir = demo.log.parent / "mail"
    already = set(mail_dir.glob("*.eml")) if mail_dir.is_dir() else set()

    # Without a password the sign-in page offers the way in.
    await page.goto(demo.url + "/login")
    await no_sideways_scroll(page)
    async with page.expect_navigation():
        await page.get_by_role(
            "link", name="Wachtwoord vergeten? Eerste keer inloggen?"
        ).click()
    assert await heading(page) == "Wachtwoord vergeten? Eerste keer inloggen?"
    await no_sideways_scroll(page)
    await page.get_by_label("Schoolcode").fill(SCHOOL_CODE)
    await page.get_by_label("E-mailadres").fill(address)
    async with page.expect_navigation():
        await page.get_by_role("button", name="Stuur mij een link").click()
    assert await heading(page) == "Kijk in uw e-mail"
    await no_sideways_scroll(page)

    # The e-mail: a plain-text part with the link to this portal.
    mail = await newest_mail(mail_dir, address, already)
    assert mail["Subject"] == "Kies uw wachtwoord voor Inzage"
    text = mail.get_body(preferencelist=("plain",)).get_content()
    links = re.findall(r"https?://\S+/reset\?token=\S+", text)
    assert len(links) == 1, text
    assert links[0].startswith(demo.url + "/reset?token="), links[0]

    # Opening it moves the token out of the address bar into a cookie.
    await page.goto(links[0])
    assert page.url == demo.url + "/reset"
    assert await heading(page) == "Kies een wachtwoord"
    await no_sideways_scroll(page)
    await page.get_by_label("Nieuw wachtwoord", exact=True).fill(PASSWORD)
    await page.get_by_label("Nieuw wachtwoord nog een keer").fill(PASSWORD)
    async with page.expect_navigation():
        await page.get_by_role("button", name="Wachtwoord opslaan").click()
    assert await heading(page) == "Uw wachtwoord is opgeslagen", await sign_in_trouble(
        page
    )
    await no_sideways_scroll(page)

    # Signing in with the new password alone: a guardian needs no 2FA.
    async with page.expect_navigation():
        await page.get_by_role("link", name="Inloggen", exact=True).click()
    await fill_sign_in(page, address)
    assert re.search(r"/students/\d+/$", page.url), await sign_in_trouble(page)
    welcome = page.url
    name = (await page.locator("nav.account .who").inner_text()).strip()
    given, family = name.split(" ", 1)
    child = (await page.locator("h1.student-name").inner_text()).strip()
    assert child.endswith(" " + family), (child, name)  # the child has his name
    assert f"Welkom, {given}" in await page.locator("main").inner_text()
    await no_sideways_scroll(page)

    # Account, then two-step verification, as the account page offers it.
    async with page.expect_navigation():
        await page.locator("nav.account").get_by_role("link", name="Account").click()
    assert await heading(page) == "Account"
    await no_sideways_scroll(page)
    async with page.expect_navigation():
        await page.get_by_role("link", name="Tweestapsverificatie").click()
    assert await heading(page) == "Tweestapsverificatie instellen"
    await no_sideways_scroll(page)
    async with page.expect_navigation():
        await page.get_by_role("button", name="Beginnen met instellen").click()
    await page.get_by_role("img", name="QR-code voor uw authenticator-app").wait_for()
    await page.get_by_role("heading", name="Of voer de sleutel handmatig in").wait_for()
    await no_sideways_scroll(page)

    # The key, in groups of four to type into the app by hand.
    shown = (await page.locator("main code.key").inner_text()).strip()
    assert re.fullmatch(r"[A-Z2-7]{4}( [A-Z2-7]{4})+", shown), shown
    totp = pyotp.TOTP(shown.replace(" ", ""))
    await page.get_by_label("Code uit de app").fill(totp.now())
    async with page.expect_navigation():
        await page.get_by_role("button", name="Doorgaan").click()

    # The recovery codes, once.
    assert await heading(page) == "Tweestapsverificatie staat aan", await page.locator(
        "main"
    ).inner_text()
    codes = await page.locator("#recovery-codes li").all_inner_texts()
    assert len(codes) == RECOVERY_CODES, codes
    assert len({c.strip() for c in codes}) == RECOVERY_CODES
    await no_sideways_scroll(page)
    async with page.expect_navigation():
        await page.get_by_role("link", name="Ik heb de codes bewaard: doorgaan").click()
    assert page.url == welcome
    assert (await page.locator("h1.student-name").inner_text()).strip() == child

    # Sign out in the header, then in again: now the password asks for a code.
    async with page.expect_navigation():
        await page.get_by_role("button", name="Uitloggen").click()
    assert page.url == demo.url + "/login?signed_out=1"
    assert child not in await page.locator("body").inner_text()
    await fill_sign_in(page, address)
    assert page.url == demo.url + "/login/code", await sign_in_trouble(page)
    assert await heading(page) == "Inlogcode"
    await no_sideways_scroll(page)

    # The step used to switch 2FA on is spent: the next one, which the portal
    # takes as one step of drift, needs no waiting.
    await page.get_by_label("Code", exact=True).fill(totp.at(time.time() + 30))
    async with page.expect_navigation():
        await page.get_by_role("button", name="Doorgaan").click()
    assert page.url == welcome, await sign_in_trouble(page)
    assert (await page.locator("h1.student-name").inner_text()).strip() == child
    assert name in await page.locator("nav.account").inner_text()
    await no_sideways_scroll(page)

    # And nothing went wrong behind the pages: no CSP violation, no script error.
    assert not watcher.violations, watcher.violations
    assert not watcher.page_errors, watcher.page_errors
    assert not watcher.console_errors, watcher.console_errors
