"""Two guardians on two phones share a section with the jeugdconsulent."""

from __future__ import annotations

import re

import pytest

from tests.browser.conftest import sign_in

pytestmark = pytest.mark.browser

CARE_NL = "Zorg en begeleiding"
CARE_EN = "Care and support"


def care_cell(page, section_title: str):
    """The care cell of the care professional's row in the grid."""
    row = (
        page.locator("section.person")
        .filter(has=page.locator("h3 .tag"))
        .filter(has_text=re.compile("hulpverlener|care professional"))
    )
    return row.locator("li.cell").filter(
        has=page.locator(".cell-section", has_text=section_title)
    )


async def test_two_guardians_share_a_section_and_one_withdraws(
    new_context, demo, watcher
):
    # Guardian 1 (Dutch) approves "Zorg en begeleiding" for the jeugdconsulent.
    first = await (await new_context()).new_page()
    await sign_in(first, demo, demo.account("guardian 1 of 2"))
    student_url = re.search(r"^(.*/students/\d+/)$", first.url)[1]
    menu = first.locator("details.menu")
    await menu.get_by_text("Menu", exact=True).click()
    async with first.expect_navigation():
        await menu.get_by_role("link", name="Instellen toegang").click()
    assert first.url == student_url + "sharing"

    cell = care_cell(first, CARE_NL)
    assert await cell.count() == 1
    assert "cell-open" in await cell.get_attribute("class")
    await first.evaluate("window.sameDocument = true")
    await cell.get_by_role("button", name=re.compile("^Toestemming geven")).click()
    await first.locator("li.cell-ticked").filter(has_text=CARE_NL).wait_for()
    cell = care_cell(first, CARE_NL)
    assert "cell-ticked" in await cell.get_attribute("class")
    text = await cell.inner_text()
    assert "Nog niet gedeeld" in text and "Wacht op:" in text
    # Swapped in place: the same document, no reload.
    assert await first.evaluate("window.sameDocument") is True

    # Guardian 2 (English), on another phone, sees it waiting for them.
    second = await (await new_context()).new_page()
    await sign_in(second, demo, demo.account("guardian 2 of 2"))
    await second.goto(student_url + "sharing")
    cell = care_cell(second, CARE_EN)
    assert "cell-waiting" in await cell.get_attribute("class")
    assert "waiting for your approval" in await cell.inner_text()
    await cell.get_by_role("button", name=re.compile("^Approve")).click()
    await second.locator("li.cell-shared").filter(has_text=CARE_EN).wait_for()
    assert "Shared:" in await care_cell(second, CARE_EN).inner_text()

    # Guardian 1 sees it green on reload.
    await first.reload()
    assert "cell-shared" in await care_cell(first, CARE_NL).get_attribute("class")

    # The jeugdconsulent now sees the section ...
    carer = await (await new_context()).new_page()
    await sign_in(carer, demo, demo.account("jeugdconsulent"))
    response = await carer.goto(student_url + "care")
    assert response.status == 200
    assert await carer.locator("main h2").first.inner_text() == CARE_NL

    # ... and loses it on the next request after guardian 2 withdraws.
    cell = care_cell(second, CARE_EN)
    await cell.get_by_role("button", name=re.compile("^Withdraw approval")).click()
    await second.locator("li.cell-waiting").filter(has_text=CARE_EN).wait_for()
    response = await carer.reload()
    assert response.status == 404

    assert watcher.violations == [] and watcher.page_errors == []
    # The only console errors are the browser reporting the carer's 404.
    assert all("404" in error for error in watcher.console_errors)
