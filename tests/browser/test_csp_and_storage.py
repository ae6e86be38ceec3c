"""The Content Security Policy holds and nothing sensitive stays in the browser.

SECURITY-BASELINE rows A31 (no CSP violation anywhere, htmx without eval) and
A38 (no history cache in browser storage, no session or CSRF token in a URL).
"""

from __future__ import annotations

from urllib.parse import unquote

import pytest

from tests.browser.conftest import records, sign_in, sign_out

pytestmark = pytest.mark.browser

HTMX_PATH_KEY = "htmx-current-path-for-history"


async def _links(page, selector: str) -> list[str]:
    return await page.locator(selector).evaluate_all("els => els.map(a => a.href)")


async def _visit(page, url: str) -> None:
    response = await page.goto(url)
    assert response.status == 200, (url, response.status)
    await page.wait_for_load_state("load")


async def _check_htmx(page) -> None:
    config = await page.evaluate(
        "() => window.htmx && {version: htmx.version, allowEval: htmx.config.allowEval,"
        " historyCacheSize: htmx.config.historyCacheSize}"
    )
    assert config, f"htmx did not load on {page.url}"
    assert config["allowEval"] is False, config
    assert config["historyCacheSize"] == 0, config


async def _page_older(page) -> None:
    """Page a section forward with htmx and check the list was swapped."""
    await page.evaluate("window.sameDocument = true")
    before = page.url.split("?")[0]
    await (
        page.locator("nav.pager")
        .get_by_role("link", name="Volgende pagina", exact=True)
        .click()
    )
    await page.wait_for_url(before + "?page=2")
    await page.locator("nav.pager").get_by_text("Pagina 2", exact=True).wait_for()
    assert await page.evaluate("window.sameDocument === true")
    assert await records(page) > 0


async def test_the_violation_detector_sees_inline_script(page, demo, watcher):
    # A detector that never fires would make the crawl below pass vacuously.
    await _visit(page, demo.url + "/login")
    await page.evaluate(
        """() => {
          const script = document.createElement("script");
          script.textContent = "window.inlineRan = true";
          document.head.appendChild(script);
        }"""
    )
    await page.wait_for_timeout(200)

    assert await page.evaluate("window.inlineRan === undefined")
    assert any("script-src" in v for v in watcher.violations), watcher.violations


async def test_no_csp_violation_on_family_and_staff_pages(page, demo, watcher):
    await _visit(page, demo.url + "/login")
    await _check_htmx(page)
    await sign_in(page, demo, demo.account("guardian (2 children)"))
    await _check_htmx(page)

    # Every section of the first child, from the menu.
    for url in await _links(page, "details.menu nav a"):
        await _visit(page, url)
        await _check_htmx(page)
    # The other child, through the switcher, and one of its sections.
    for url in await _links(page, "nav.switcher a:not([aria-current])"):
        await _visit(page, url)
        await _visit(page, url + "results")
        await _check_htmx(page)
    await sign_out(page)
    await sign_in(page, demo, demo.account("guardian 1 of 2"))
    many_results = page.url.split("/students/")[1].strip("/")  # 64 results
    await _visit(page, page.url + "results")
    await _page_older(page)
    await sign_out(page)

    # The staff part: the list, a student, every section and a pager.
    await sign_in(page, demo, demo.account("admin"))
    assert page.url == demo.url + "/staff/"
    await _check_htmx(page)
    students = await _links(page, "main ul.students a")
    assert len(students) > 10
    await _visit(page, students[0])
    sections = await _links(page, "main ul.sections a")
    assert len(sections) == 9
    for url in sections:
        await _visit(page, url)
        await _check_htmx(page)
    await _visit(page, f"{demo.url}/staff/students/{many_results}/results")
    await _page_older(page)

    assert watcher.violations == []
    assert watcher.page_errors == []
    assert watcher.console_errors == []


async def test_no_history_cache_in_storage_and_no_tokens_in_urls(page, demo, watcher):
    account = demo.account("guardian 1 of 2")
    await sign_in(page, demo, account)
    await _visit(page, page.url + "results")
    section_url = page.url
    await _page_older(page)
    await page.locator("nav.pager").get_by_role("link", name="Vorige pagina").click()
    await page.wait_for_url(section_url + "?page=1")
    # Back and forward through the pushed addresses, as a parent would.
    await page.go_back()
    await page.wait_for_url(section_url + "?page=2")
    await page.locator("nav.pager").get_by_text("Pagina 2", exact=True).wait_for()
    await page.go_back()
    await page.wait_for_url(section_url)
    await page.locator("#records").wait_for()

    storage = await page.evaluate(
        "() => ({session: Object.fromEntries(Object.entries(sessionStorage)),"
        " local: Object.keys(localStorage)})"
    )
    cookies = {c["name"]: c["value"] for c in await page.context.cookies()}
    csrf = await page.locator("input[name=csrf_token]").first.get_attribute("value")
    secrets = {
        "session": cookies["__Host-sid"],
        "pre-session": cookies.get("__Host-pre"),
        "csrf": csrf,
        "password": account.password,
    }

    # htmx 2.0.10 always keeps the current path (and nothing else) under this
    # key; what A38 forbids is a snapshot of the page under htmx-history-cache.
    path = storage["session"].pop(HTMX_PATH_KEY, "/")
    assert storage == {"session": {}, "local": []}
    assert path.startswith("/") and len(path) < 200, path
    assert watcher.urls, "no request was recorded"
    for url in watcher.urls:
        for name, secret in secrets.items():
            assert not secret or secret not in unquote(url), f"{name} in {url}"
        assert "csrf" not in url.lower(), url
