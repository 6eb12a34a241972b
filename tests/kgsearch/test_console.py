"""The analyst console (/console) in headless Chromium, against a live server over the sample KB.

The browser is the system's Chromium (Debian ``chromium``; ``KGSEARCH_CHROMIUM`` names another),
driven by Playwright; no browser is ever downloaded. Each test saves a screenshot of the view it
checked, under ``$KGSEARCH_SCREENSHOTS`` if set, else the test's temporary directory.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest

from tests.kgsearch.conftest import LiveServer, copy_home

sync_api = pytest.importorskip("playwright.sync_api", reason="the console tests need the playwright package")

CHROMIUM = os.environ.get("KGSEARCH_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
MOVIES = "PREFIX movies: <http://kgsearch.org/ns/movies#>\nPREFIX rdfs: <http://www.w3.org/2000/01/rdf-schema#>\n"
JAWS = "http://kgsearch.org/movies/film/Jaws"
WAIT_MS = 30_000

pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"no Chromium at {CHROMIUM} (apt install chromium)")


@pytest.fixture(scope="module")
def browser() -> Iterator:
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1400, "height": 900}, accept_downloads=True)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.set_default_timeout(WAIT_MS)
    yield page
    context.close()
    assert not errors, f"JavaScript errors in the console: {errors}"


@pytest.fixture
def shots(tmp_path) -> Path:
    folder = Path(os.environ.get("KGSEARCH_SCREENSHOTS") or tmp_path / "screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def open_console(page, url: str, hash_: str = "") -> None:
    page.goto(f"{url}/{hash_}")  # "/" redirects to /console/ (a hash survives the redirect)
    page.wait_for_selector("body[data-ready=true]")


def sparql_rows(url: str, query: str) -> list[dict]:
    response = httpx.post(
        f"{url}/sparql", data={"query": MOVIES + query}, headers={"Accept": "application/sparql-results+json"}
    )
    response.raise_for_status()
    return response.json()["results"]["bindings"]


def set_editor(page, query: str) -> None:
    page.evaluate("q => document.querySelector('.CodeMirror').CodeMirror.setValue(q)", query)


def editor_text(page) -> str:
    return page.evaluate("() => document.querySelector('.CodeMirror').CodeMirror.getValue()")


def test_root_serves_the_console(live_server):
    response = httpx.get(f"{live_server}/", follow_redirects=True)
    assert response.status_code == 200
    assert str(response.url).endswith("/console/")
    assert "kgsearch console" in response.text
    vendored = httpx.get(f"{live_server}/console/vendor/codemirror/mode/sparql/sparql.js")
    assert vendored.status_code == 200 and "sparql" in vendored.text


def test_question_shows_sparql_and_answers(live_server, page, shots):
    directors = {
        row["name"]["value"]
        for row in sparql_rows(live_server, f"SELECT ?name WHERE {{ <{JAWS}> movies:directedBy/rdfs:label ?name }}")
    }
    assert directors, "the sample KB names Jaws's director"

    open_console(page, live_server)
    page.fill("#question", "who directed Jaws")
    page.click("#ask-button")
    page.wait_for_selector(".answer-list .answer")
    page.screenshot(path=shots / "ask.png", full_page=True)

    assert "movies#directedBy" in editor_text(page) and JAWS in editor_text(page)
    assert page.locator("#editor-title").inner_text() == "Generated SPARQL"
    first = page.locator(".answer-list .answer .answer-head .entity-link").first.inner_text()
    assert first in directors
    assert "Jaws" in page.locator("#interpretation").inner_text()
    # the question is in the URL: reloading the link shows the same answers
    assert "q=who+directed+Jaws" in page.url
    page.reload()
    page.wait_for_selector(".answer-list .answer")
    assert page.locator(".answer-list .answer .entity-link").first.inner_text() == first


def test_edit_generated_sparql_and_rerun(live_server, page):
    open_console(page, live_server, "#mode=ask&q=who+directed+Jaws")
    page.wait_for_selector(".answer-list .answer")
    edited = editor_text(page).replace("directedBy", "starredActors")
    set_editor(page, edited)
    page.click("#run")
    page.wait_for_selector("#results-table tbody tr")
    stars = sparql_rows(live_server, f"SELECT ?a WHERE {{ <{JAWS}> movies:starredActors ?a }}")
    assert page.locator("#results-table tbody tr").count() == len(stars) > 0
    assert "mode=sparql" in page.url and "starredActors" in page.url


def test_entity_card_facts_graph_and_mentions(live_server, page, shots):
    open_console(page, live_server, "#mode=ask&q=who+directed+Jaws")
    page.locator(".answer-list .entity-link").first.click()
    page.wait_for_selector(".entity-label")
    page.wait_for_selector("#graph svg .node")
    page.screenshot(path=shots / "entity.png", full_page=True)

    label = page.locator(".entity-label").inner_text()
    assert "entity=" in page.url
    facts = page.locator("#entity-card .facts tr")
    assert facts.count() > 0
    assert "directed by" in page.locator("#entity-card .facts").inner_text()  # incoming: ← directed by
    nodes = page.locator("#graph svg .node")
    assert nodes.count() >= 2 and page.locator("#graph svg .node.center text").text_content().startswith(label[:10])
    assert page.locator("#graph svg line.edge").count() >= 1
    mentions = page.locator("#entity-documents b.mention")
    assert mentions.count() >= 1  # the card's documents highlight the entity's mention

    # a node of the graph opens that entity's card
    other = page.locator("#graph svg .node:not(.center)").first
    target = other.get_attribute("data-iri")
    other.click()
    page.wait_for_function("iri => document.querySelector('#entity-card code')?.textContent === iri", arg=target)


def test_editor_query_table_share_link_and_downloads(live_server, page, shots, tmp_path):
    query = (
        MOVIES + "SELECT ?film ?year WHERE { ?film a movies:Film ; movies:releaseYear ?year } ORDER BY ?film LIMIT 7"
    )
    open_console(page, live_server, "#mode=sparql")
    set_editor(page, query)
    page.keyboard.press("Escape")
    page.click("#run")
    page.wait_for_selector("#results-table tbody tr")
    page.wait_for_selector("#results-table .entity-link:not([data-unlabelled])")  # labels arrive
    page.screenshot(path=shots / "sparql.png", full_page=True)
    assert page.locator("#results-table tbody tr").count() == 7
    assert page.locator("#results-table th").all_inner_texts() == ["?film", "?year"]

    # the share link reproduces the view in a fresh page
    page.click("#share")
    link = page.input_value("#share-url")
    assert "query=" in link
    fresh = page.context.new_page()
    fresh.goto(link)
    fresh.wait_for_selector("#results-table tbody tr")
    assert fresh.locator("#results-table tbody tr").count() == 7
    assert fresh.evaluate("() => document.querySelector('.CodeMirror').CodeMirror.getValue()") == query
    fresh.close()

    with page.expect_download() as download:
        page.click("#download-csv")
    rows = list(csv.reader(Path(download.value.path()).read_text(encoding="utf-8").splitlines()))
    assert rows[0] == ["film", "year"] and len(rows) == 8
    with page.expect_download() as download:
        page.click("#download-json")
    saved = json.loads(Path(download.value.path()).read_text(encoding="utf-8"))
    assert saved["head"]["vars"] == ["film", "year"] and len(saved["results"]["bindings"]) == 7


def test_completion_offers_terms_and_declares_their_prefix(live_server, page):
    open_console(page, live_server, "#mode=sparql")
    set_editor(page, "SELECT ?f WHERE { ?f ")
    page.evaluate(
        "() => { const cm = document.querySelector('.CodeMirror').CodeMirror; cm.focus();"
        " cm.setCursor(cm.lineCount(), 0); }"
    )
    page.keyboard.type("movies:direc")
    page.keyboard.press("Control+Space")
    hint = page.locator(".CodeMirror-hints .CodeMirror-hint", has_text="movies:directedBy")
    hint.first.wait_for()
    hint.first.click()
    text = editor_text(page)
    assert "?f movies:directedBy" in text
    assert text.startswith("PREFIX movies: <http://kgsearch.org/ns/movies#>")


def test_search_view_highlights_mentions(live_server, page, shots):
    open_console(page, live_server, "#mode=search&q=shark")
    page.wait_for_selector(".document-list .document")
    page.screenshot(path=shots / "search.png", full_page=True)
    assert page.locator(".document-list b.mention").count() >= 1
    assert page.locator(".document-list .entity-link").count() >= 1


def test_errors_are_shown(live_server, page, shots):
    open_console(page, live_server, "#mode=sparql&query=" + quote("SELECT ?x WHERE { ?x"))
    page.wait_for_selector("#error:not([hidden])")
    page.screenshot(path=shots / "error.png")
    assert "SparqlSyntaxError" in page.locator("#error").inner_text()
    # the editor keeps the broken query for fixing
    assert editor_text(page) == "SELECT ?x WHERE { ?x"


def test_unknown_entity_is_reported_in_the_card(live_server, page):
    open_console(page, live_server, "#mode=search&entity=" + quote("http://kgsearch.org/movies/film/No_Such_Film"))
    page.wait_for_selector("#entity-card .error")
    assert "EntityNotFoundError" in page.locator("#entity-card").inner_text()


def test_truncated_results_are_flagged(sample_home, tmp_path, browser):
    server = LiveServer(copy_home(sample_home, tmp_path / "home"), row_cap=5).start()
    try:
        page = browser.new_page()
        page.set_default_timeout(WAIT_MS)
        open_console(page, server.url, "#mode=sparql&query=" + quote("SELECT ?s WHERE { ?s ?p ?o } LIMIT 50"))
        page.wait_for_selector("#truncated:not([hidden])")
        assert "row cap" in page.locator("#truncated").inner_text()
        assert page.locator("#results-table tbody tr").count() == 5
        page.close()
    finally:
        server.stop()
