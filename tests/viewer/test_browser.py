"""End to end in a real headless Chromium: the viewer over a store of real runs.

Debian's `chromium` driven by Playwright (`executable_path`, never `playwright
install`); `make test` installs chromium when missing. Outside CI a machine without it
skips this test, saying why; in CI (`CI` set) a missing browser fails it.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from typing import Any

import pytest

from palaestra.viewer import ViewerServer
from tests.viewer.conftest import ViewerRuns

pytestmark = pytest.mark.browser

CHROMIUM = os.environ.get("PALAESTRA_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"


def _launch_or_skip() -> Any:
    missing = None
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        missing = "the playwright package is not installed (it is in the `dev` extra)"
    else:
        if not os.path.exists(CHROMIUM):
            missing = f"no chromium at {CHROMIUM} (`apt-get install chromium`; `make test` does)"
    if missing:
        if os.environ.get("CI"):
            pytest.fail(f"browser test in CI: {missing}")
        pytest.skip(missing)
    return sync_playwright


@pytest.fixture
def browsing(request: pytest.FixtureRequest) -> Iterator[tuple[Any, ViewerRuns]]:
    """A page open on the viewer of the real runs, and those runs."""
    sync_playwright = _launch_or_skip()  # before the runs are made: a skip costs nothing
    viewer_runs: ViewerRuns = request.getfixturevalue("viewer_runs")
    errors: list[str] = []
    with ViewerServer(viewer_runs.store) as server, sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox", "--disable-dev-shm-usage"]
        )
        try:
            opened = browser.new_page(viewport={"width": 1400, "height": 900})
            opened.set_default_timeout(10_000)
            opened.on("pageerror", lambda exc: errors.append(str(exc)))
            opened.goto(server.url)
            yield opened, viewer_runs
        finally:
            browser.close()
    assert not errors, f"JavaScript errors on the page: {errors}"


def rows(page: Any, table: str) -> Any:
    return page.locator(f"#{table} tbody tr")


def test_browse_filter_and_read_an_episode(browsing: tuple[Any, ViewerRuns]) -> None:
    page, viewer_runs = browsing
    # runs, newest first
    rows(page, "runs-table").first.wait_for()
    assert rows(page, "runs-table").count() == 3
    assert rows(page, "runs-table").first.get_attribute("data-run") == viewer_runs.errors

    # a run's episodes, filtered by outcome, then by task text
    page.click(f"#runs-table a:text-is('{viewer_runs.errors}')")
    page.wait_for_function("document.querySelectorAll('#episodes-table tbody tr').length === 5")
    page.select_option("#episode-filters select[name=outcome]", "error")
    page.wait_for_function("document.querySelectorAll('#episodes-table tbody tr').length === 2")
    outcomes = rows(page, "episodes-table").evaluate_all("rs => rs.map(r => r.dataset.outcome)")
    assert outcomes == ["error", "error"]
    page.fill("#episode-filters input[name=task]", "modify")
    page.click("#episode-filters button[type=submit]")
    page.wait_for_function("document.querySelectorAll('#episodes-table tbody tr').length === 1")
    assert "outcome=error" in page.url and "task=modify" in page.url

    # the error episode says what went wrong
    rows(page, "episodes-table").first.click()
    page.locator("#episode-error").wait_for()
    assert "ModelError" in page.inner_text("#episode-error")
    # the header is drawn before the timeline's first page arrives: wait for its rows
    page.locator(".tl-row[data-kind=episode_end]").wait_for()
    assert page.locator(".tl-row[data-kind=episode_end] .badge.error").count() == 1

    # the multi-agent run: one column per agent, members nested under their messages
    page.click("#crumbs a:text-is('runs')")
    page.click(f"#runs-table a:text-is('{viewer_runs.system}')")
    rows(page, "episodes-table").first.click()
    page.wait_for_function("document.querySelectorAll('.tl-row').length === 22")
    lanes = page.locator(".tl-head .lane-name").all_inner_texts()
    assert lanes == ["env", "agent", "agent/q1_solver", "agent/q2_solver"]
    worker = page.locator(".tl-row[data-agent='agent/q1_solver'][data-kind=model_request]")
    parent = worker.get_attribute("data-parent")
    message = page.locator(f".tl-row[data-seq='{parent}']")
    assert message.get_attribute("data-kind") == "message"
    assert worker.locator(".ev").get_attribute("data-depth") == "2"
    column = worker.locator(".ev").evaluate("e => getComputedStyle(e).gridColumnStart")
    assert column == str(lanes.index("agent/q1_solver") + 3)
    assert "tok" in page.inner_text(
        ".tl-row[data-agent='agent/q1_solver'][data-kind=model_response]"
    )

    # folding the message hides the worker's turn; unfolding shows it again
    message.locator(".toggle").click()
    assert worker.is_hidden()
    message.locator(".toggle").click()
    assert worker.is_visible()

    # an event's JSON, and from there its parent's
    page.locator(".tl-row[data-kind=tool_call] .ev").first.click()
    page.wait_for_function(
        "document.querySelector('#json-view').textContent.includes('\"kind\": \"tool_call\"')"
    )
    assert '"name": "delegate_to_q1_solver"' in page.inner_text("#json-view")
    page.click("#json-parent")
    page.wait_for_function(
        "document.querySelector('#json-title').textContent.startsWith('event #3 ')"
    )
    assert '"kind": "model_response"' in page.inner_text("#json-view")
    page.keyboard.press("Escape")
    assert page.locator("#json-panel").is_hidden()


def _banner(page: Any, needle: str) -> str:
    page.wait_for_function(
        "needle => !document.querySelector('#error').hidden && "
        "document.querySelector('#error').textContent.includes(needle)",
        arg=needle,
    )
    return str(page.inner_text("#error"))


def test_bad_addresses_and_failed_calls_show_a_banner(browsing: tuple[Any, ViewerRuns]) -> None:
    page, viewer_runs = browsing
    rows(page, "runs-table").first.wait_for()
    base = page.url.split("#")[0]
    # a truncated percent-escape: the banner says so over the runs list
    page.goto(base + "#/run/%E0%A4%A")
    assert "malformed" in _banner(page, "not valid percent-encoding")
    assert rows(page, "runs-table").count() == 3
    page.goto(base + "#/episode/abc")
    _banner(page, "is not an episode id")
    page.goto(base + "#/run/no-such-run")
    assert "404" in _banner(page, "no run 'no-such-run'")
    # a bad page offset is read as the first page; the banner clears on a good address
    page.goto(base + f"#/run/{viewer_runs.errors}?offset=abc")
    page.wait_for_function("document.querySelectorAll('#episodes-table tbody tr').length === 5")
    assert page.locator("#error").is_hidden()
    page.goto(base + "#/episode/1?seq=x")
    _banner(page, "is not an event number")


def test_a_token_server_signs_the_browser_in_from_the_printed_url(viewer_runs: ViewerRuns) -> None:
    sync_playwright = _launch_or_skip()
    token = "browser-token-0123456789"
    errors: list[str] = []
    with ViewerServer(viewer_runs.store, token=token) as server, sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox", "--disable-dev-shm-usage"]
        )
        try:
            page = browser.new_page()
            page.set_default_timeout(10_000)
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            refused = page.goto(server.url)
            assert refused is not None and refused.status == 401
            page.goto(f"{server.url}?token={token}#/run/{viewer_runs.errors}")
            assert "token" not in page.url  # the redirect took it out of the address
            page.wait_for_function(
                "document.querySelectorAll('#episodes-table tbody tr').length === 5"
            )
            # a browser with the cookie, whose API calls start failing: a banner, not silence
            page.context.clear_cookies()
            page.evaluate("location.hash = '#/'")
            assert "401" in _banner(page, "needs its token")
        finally:
            browser.close()
    assert not errors, f"JavaScript errors on the page: {errors}"
