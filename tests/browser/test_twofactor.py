"""Staff sign in with a password and a code from their authenticator app."""

from __future__ import annotations

import re

import pytest

from tests.browser.conftest import (
    PHONE,
    SCHOOL_CODE,
    fresh_code,
    sign_in_trouble,
)

pytestmark = pytest.mark.browser


def printed_key(demo, email: str) -> str:
    """Return the 2FA key `inzage demo` printed beside an account's password."""
    for line in demo.log.read_text(encoding="utf-8", errors="replace").splitlines():
        if email in line:
            found = re.search(r"((?:[A-Z2-7]{4} ){7}[A-Z2-7]{4})\s*$", line)
            if found:
                return found.group(1).replace(" ", "")
    raise AssertionError(f"the demo printed no 2FA key for {email}")


async def test_demo_admin_signs_in_with_password_and_code(page, demo):
    admin = demo.account("admin")
    key = printed_key(demo, admin.email)
    assert key == admin.totp_key

    await page.goto(demo.url + "/login")
    await page.fill("#school", SCHOOL_CODE)
    await page.fill("#email", admin.email)
    await page.fill("#password", admin.password)
    async with page.expect_navigation():
        await page.press("#password", "Enter")
    assert page.url.endswith("/login/code"), await sign_in_trouble(page)

    # The password alone opens nothing: the staff part sends back to the code.
    await page.goto(demo.url + "/staff/")
    assert page.url.endswith("/login/code"), page.url
    width = await page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"]

    # By keyboard: the code field has the focus; type the code, press Enter.
    code = await fresh_code(key)
    await page.keyboard.type(f"{code[:3]} {code[3:]}")
    async with page.expect_navigation():
        await page.keyboard.press("Enter")

    assert re.search(r"/staff/$", page.url), await sign_in_trouble(page)
    await page.locator("main ul.students li").first.wait_for()

    # A student's file on the phone: the facts' values keep room beside a
    # long label, where they once ran down the page a letter at a time.
    async with page.expect_navigation():
        await page.locator("main ul.students li a").first.click()
    widths = await page.locator("dl.facts dd").evaluate_all(
        "items => items.map(dd => dd.getBoundingClientRect().width)"
    )
    assert widths and min(widths) >= 120, widths
