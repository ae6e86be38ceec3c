"""Phone layout and keyboard use at 360 pixels wide (SPEC.md section 3)."""

from __future__ import annotations

import pytest

from tests.browser.conftest import (
    PHONE,
    SCHOOL_CODE,
    records,
    sign_in,
    sign_in_trouble,
    sign_out,
)

pytestmark = pytest.mark.browser

SCROLL_WIDTH = "document.documentElement.scrollWidth"


async def _no_sideways_scroll(page) -> None:
    await page.wait_for_load_state("load")
    width = await page.evaluate(SCROLL_WIDTH)
    assert width <= PHONE["width"], f"{page.url} is {width} px wide"


async def test_no_page_scrolls_sideways_on_a_phone(page, demo):
    await page.goto(demo.url + "/login")
    await _no_sideways_scroll(page)
    await sign_in(page, demo, demo.account("guardian 1 of 2"))
    await _no_sideways_scroll(page)
    welcome = page.url
    for url in await page.locator("main ul.sections a").evaluate_all(
        "links => links.map(a => a.href)"
    ):
        await page.goto(url)
        await _no_sideways_scroll(page)
    await page.goto(welcome + "results")
    assert await records(page) > 0
    await _no_sideways_scroll(page)
    await sign_out(page)

    await sign_in(page, demo, demo.account("admin"))
    await page.locator("main ul.students li").first.wait_for()
    await _no_sideways_scroll(page)
    await page.locator("main ul.students a").first.click()
    await page.wait_for_url("**/staff/students/*/")
    await _no_sideways_scroll(page)


async def test_records_come_first_on_a_phone(page, demo, tmp_path):
    await sign_in(page, demo, demo.account("guardian 1 of 2"))
    await page.screenshot(path=tmp_path / "welcome-360.png", full_page=True)
    await page.goto(page.url + "results")
    await page.screenshot(path=tmp_path / "results-360.png")

    # The folded menu leaves the first screen to the records.
    menu = page.locator("details.menu")
    assert await menu.get_attribute("open") is None
    first = await page.locator("#records li.record").first.bounding_box()
    assert first["y"] + first["height"] <= PHONE["height"], first

    # Its button opens it from the keyboard too.
    await menu.locator("summary").focus()
    await page.keyboard.press("Enter")
    assert await menu.get_attribute("open") is not None
    assert await menu.get_by_role("link", name="Verzuim").is_visible()


async def test_keyboard_signs_in_with_a_visible_focus(page, demo):
    account = demo.account("guardian 1 of 2")
    await page.goto(demo.url + "/login")

    # The skip link comes first and shows itself when focused.
    await page.keyboard.press("Tab")
    skip = await page.evaluate(
        "() => { const el = document.activeElement;"
        " return {cls: el.className, left: el.getBoundingClientRect().left}; }"
    )
    assert skip["cls"] == "skip" and skip["left"] >= 0, skip

    # Tab walks the form in reading order, with nothing in between.
    order = []
    for _ in range(10):
        await page.keyboard.press("Tab")
        focused = await page.evaluate(
            "() => document.activeElement.id || document.activeElement.type"
        )
        order.append(focused)
        if focused == "submit":
            break
    start = order.index("school")
    assert order[start:] == ["school", "email", "password", "submit"], order

    # The focused field shows a clear outline (:focus-visible in app.css).
    await page.focus("#school")
    await page.keyboard.press("Shift+Tab")
    await page.keyboard.press("Tab")
    outline = await page.evaluate(
        "() => { const el = document.activeElement, s = getComputedStyle(el);"
        " return {id: el.id, visible: el.matches(':focus-visible'),"
        " style: s.outlineStyle, width: parseFloat(s.outlineWidth)}; }"
    )
    assert outline["id"] == "school" and outline["visible"], outline
    assert outline["style"] != "none" and outline["width"] >= 2, outline

    # Typing and Enter sign in.
    await page.keyboard.type(SCHOOL_CODE)
    await page.keyboard.press("Tab")
    await page.keyboard.type(account.email)
    await page.keyboard.press("Tab")
    await page.keyboard.type(account.password)
    async with page.expect_navigation():
        await page.keyboard.press("Enter")
    assert "/students/" in page.url, await sign_in_trouble(page)
    await page.locator("h1.student-name").wait_for()
