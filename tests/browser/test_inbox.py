"""The Postkantoor on a phone: a message from staff shows in the badge unasked."""

from __future__ import annotations

import re
import time

import pytest

from tests.browser.conftest import sign_in

pytestmark = pytest.mark.browser

# The badge polls every 30 s; give it one full period and a little more.
POLL_WAIT_MS = 35_000


async def badge_text(page) -> str:
    badge = page.locator("#unread-badge .badge")
    return (await badge.inner_text()).strip() if await badge.count() else ""


async def test_a_staff_message_reaches_the_open_inbox_without_a_reload(
    new_context, demo, watcher
):
    parent = await (await new_context()).new_page()
    await sign_in(parent, demo, demo.account("guardian 1 of 2"))
    student_id = re.search(r"/students/(\d+)/", parent.url).group(1)
    child = (await parent.locator("h1.student-name").inner_text()).strip()
    async with parent.expect_navigation():
        await parent.locator("a.inbox-link").click()
    assert parent.url.endswith("/inbox/")
    await parent.wait_for_load_state("networkidle")
    before = await badge_text(parent)
    navigations = []
    parent.on("framenavigated", lambda frame: navigations.append(frame.url))
    opened_at = time.monotonic()

    # Staff write in a browser of their own.
    staff = await (await new_context()).new_page()
    await sign_in(staff, demo, demo.account("mentor"))
    await staff.goto(f"{demo.url}/staff/messages/students/{student_id}")
    subject = f"Schoolreis {int(opened_at)}"
    await staff.fill("#subject", subject)
    await staff.fill("#body", "Neem een lunchpakket mee. https://school.test/reis")
    await staff.locator("#compose button[type=submit]").click()
    await staff.locator("#compose h1").filter(has_text="Bericht verstuurd").wait_for()
    assert "Niet bezorgd" not in await staff.locator("#compose").inner_text()

    # The parent's open page shows it at its next poll, without a reload.
    expected = str(int(before or 0) + 1)
    await (
        parent.locator("#unread-badge .badge")
        .filter(has_text=re.compile(f"^{expected}$"))
        .wait_for(timeout=POLL_WAIT_MS)
    )
    assert navigations == [] and parent.url.endswith("/inbox/")
    assert time.monotonic() - opened_at < 40

    # Reading it: the list names the child, the badge goes back.
    async with parent.expect_navigation():
        await parent.locator("a.inbox-link").click()
    item = parent.locator("li.msg.unread", has_text=subject)
    assert child in await item.inner_text()
    async with parent.expect_navigation():
        await item.locator("a").click()
    assert await parent.locator("#message h1").inner_text() == subject
    link = parent.locator("#message .msg-body a")
    assert await link.get_attribute("href") == "https://school.test/reis"
    await parent.wait_for_load_state("networkidle")
    assert await badge_text(parent) == (before or "")

    # Back to the list, where the message is no longer unread.
    async with parent.expect_navigation():
        await parent.locator("#message a.back").click()
    assert await parent.locator("li.msg.unread", has_text=subject).count() == 0
    assert watcher.violations == [] and watcher.page_errors == []
