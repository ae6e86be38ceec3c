"""A parent on a phone: sign in, read, switch child, page through, sign out."""

from __future__ import annotations

import re

import pytest

from models.demo import MANY_RESULTS
from tests.browser.conftest import records, sign_in, sign_out

pytestmark = pytest.mark.browser

PAGE_SIZE = 50


async def test_guardian_reads_both_children_through_the_menu(page, demo):
    await sign_in(page, demo, demo.account("guardian (2 children)"))

    # The welcome page of the first child lists the sections.
    assert re.search(r"/students/\d+/$", page.url), page.url
    sections = page.locator("main ul.sections")
    await sections.get_by_role("link", name="Verzuim", exact=True).wait_for()
    await sections.get_by_role("link", name="Resultaten", exact=True).wait_for()
    first_child = (await page.locator("h1.student-name").inner_text()).strip()

    # On a phone the menu folds behind its button; the button opens it.
    menu = page.locator("details.menu")
    menu_link = menu.get_by_role("link", name="Verzuim", exact=True)
    assert not await menu_link.is_visible()
    await menu.get_by_text("Menu", exact=True).click()
    assert await menu_link.is_visible()
    async with page.expect_navigation():
        await menu_link.click()
    assert page.url.endswith("/absence")
    assert await page.locator("main h2").first.inner_text() == "Verzuim"
    assert await records(page) > 0
    current = page.locator('details.menu a[aria-current="page"]')
    assert await current.text_content() == "Verzuim"

    # The switcher shows the other child.
    switcher = page.locator("nav.switcher")
    other = switcher.locator("a:not([aria-current])")
    assert await other.count() == 1
    other_name = (await other.inner_text()).strip()
    async with page.expect_navigation():
        await other.click()
    shown = (await page.locator("h1.student-name").inner_text()).strip()
    assert shown != first_child
    assert shown.startswith(other_name + " ")
    current = switcher.locator('a[aria-current="page"]')
    assert (await current.inner_text()).strip() == other_name


async def test_results_page_with_htmx_then_sign_out_and_back(page, demo):
    # The two-guardian family's child has MANY_RESULTS results (models/demo.py).
    await sign_in(page, demo, demo.account("guardian 1 of 2"))
    child = (await page.locator("h1.student-name").inner_text()).strip()
    async with page.expect_navigation():
        await (
            page.locator("main ul.sections")
            .get_by_role("link", name="Resultaten", exact=True)
            .click()
        )
    section_url = page.url
    assert await records(page) == PAGE_SIZE
    first_record = (await page.locator("#records li.record").first.inner_text())[:40]

    # "Volgende pagina" swaps the list in place: no new document, an htmx request,
    # and the address bar follows.
    await page.evaluate("window.sameDocument = true")
    fragment_requests = []
    page.on(
        "request",
        lambda request: (
            fragment_requests.append(request.headers.get("hx-request"))
            if "/students/" in request.url
            else None
        ),
    )
    pager = page.locator("nav.pager")
    # By keyboard: the new list takes the focus (found in a walkthrough: it
    # was left on the page's body), and Tab goes on inside it.
    assert await page.evaluate("document.activeElement === document.body")
    await pager.get_by_role("link", name="Volgende pagina", exact=True).focus()
    await page.keyboard.press("Enter")
    await page.wait_for_url(section_url + "?page=2")
    await pager.get_by_text("Pagina 2", exact=True).wait_for()
    await page.wait_for_function("document.activeElement.id === 'records'")
    # Scrolled to the list's top with room for its focus ring (3px + 2px).
    top = "document.getElementById('records').getBoundingClientRect().top"
    assert await page.evaluate(top) >= 5
    await page.keyboard.press("Tab")
    focused = await page.evaluate("document.activeElement.textContent")
    assert focused == "Vorige pagina"
    assert await page.evaluate("window.sameDocument === true")
    assert fragment_requests == ["true"]
    assert await records(page) == MANY_RESULTS - PAGE_SIZE
    assert await page.locator("details.menu").count() == 1  # the page around stays
    assert await page.locator("#records").count() == 1

    # Back to the newer page the same way.
    await pager.get_by_role("link", name="Vorige pagina", exact=True).click()
    await page.wait_for_url(section_url + "?page=1")
    await pager.get_by_text("Pagina 1", exact=True).wait_for()
    assert await records(page) == PAGE_SIZE
    assert await page.evaluate("window.sameDocument === true")

    # A pushed address opened by itself is a whole page.
    await page.reload()
    assert await page.locator("h1.student-name").inner_text() == child
    assert await records(page) == PAGE_SIZE

    # The language switch returns to the page paged to, not the first one.
    await pager.get_by_role("link", name="Volgende pagina", exact=True).click()
    await page.wait_for_url(section_url + "?page=2")
    await pager.get_by_text("Pagina 2", exact=True).wait_for()
    async with page.expect_navigation():
        await page.get_by_role("button", name="English", exact=True).click()
    assert page.url == section_url + "?page=2"
    await pager.get_by_text("Page 2", exact=True).wait_for()
    assert await records(page) == MANY_RESULTS - PAGE_SIZE
    async with page.expect_navigation():
        await page.get_by_role("button", name="Nederlands", exact=True).click()
    assert page.url == section_url + "?page=2"

    # A refused htmx request says so in place: the pager's link edited by
    # hand to another student's file. As after following a link to a
    # missing page, the address is the one refused; a reload refuses it too.
    other = re.sub(r"/students/(\d+)/", "/students/999999/", section_url)
    previous = pager.locator("a").filter(has_text="Vorige pagina")
    await previous.evaluate("(a, url) => a.setAttribute('hx-get', url)", other)
    await page.evaluate("htmx.process(document.body)")
    await previous.click()
    await page.get_by_role("alert").get_by_text("Niet gevonden").wait_for()
    assert await records(page) == 0  # the list gave way to the message
    assert page.url == other
    assert (await page.reload()).status == 404
    await page.get_by_role("alert").get_by_text("Niet gevonden").wait_for()
    await page.goto(section_url)

    await sign_out(page)
    assert page.url == demo.url + "/login?signed_out=1"
    await page.get_by_role("status").filter(has_text="U bent uitgelogd.").wait_for()
    await page.locator("#password").wait_for()

    # Back shows nothing of the child, and a reload is the sign-in page.
    await page.go_back()
    await page.wait_for_load_state()
    body = await page.locator("body").inner_text()
    assert child not in body
    assert first_record not in body
    assert await records(page) == 0
    await page.reload()
    assert page.url == demo.url + "/login"
    body = await page.locator("body").inner_text()
    assert child not in body
    await page.locator("#password").wait_for()


async def test_language_switch_follows_the_person(page, new_context, demo):
    account = demo.account("guardian of a 16+ student")
    await sign_in(page, demo, account)
    account_nav = page.locator("nav.account")
    assert "Uitloggen" in await account_nav.inner_text()

    async with page.expect_navigation():
        await page.get_by_role("button", name="English", exact=True).click()
    assert "Sign out" in await account_nav.inner_text()
    sections = page.locator("main ul.sections")
    assert "Results" in await sections.inner_text()
    assert await page.locator("html").get_attribute("lang") == "en"

    # The choice is the person's, not only this browser's.
    elsewhere = await (await new_context()).new_page()
    await sign_in(elsewhere, demo, account)
    assert "Sign out" in await elsewhere.locator("nav.account").inner_text()

    async with page.expect_navigation():
        await page.get_by_role("button", name="Nederlands", exact=True).click()
    assert "Uitloggen" in await account_nav.inner_text()
    assert "Resultaten" in await sections.inner_text()
    assert await page.locator("html").get_attribute("lang") == "nl"
