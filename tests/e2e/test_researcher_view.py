"""The researcher's view of a chain in Chromium: the provenance page of the Watan article with a
claim selected (its El Español passage and the tweet as origin), the parallel view of Watan and
El Español, both again with the interface in Arabic, the citation block (host and dates), and the
admin document page at 1280×800. Every page: no console error, no serious axe-core violation;
every test saves a screenshot under test-output/screenshots/."""

from __future__ import annotations

import pytest

from provenance.models import ClaimLink, Document
from tests.e2e.support import DESKTOP, axe_violations, capture_demo, login, make_researcher
from tests.helpers import ELESPANOL_URL, TWEET_URL, WATAN_URL

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def demo(transactional_db, corpus_proxy, monkeypatch):
    monkeypatch.setenv("NAQL_EMBEDDINGS", "off")  # the parallel view's aligner without loading the model
    snaps = capture_demo(corpus_proxy)
    make_researcher()
    return snaps


def _tweet_claim():
    link = (ClaimLink.objects.filter(claim__document__url=WATAN_URL, status="accepted", origin=True,
                                     upstream_document__url=TWEET_URL).select_related("claim")
            .order_by("claim__start").first())
    assert link is not None
    return link.claim


def _no_serious_axe(page):
    bad = axe_violations(page)
    assert not bad, bad


def _no_horizontal_scroll(page):
    wide = page.evaluate("""() => [...document.querySelectorAll('body *')].filter(e => {
        const r = e.getBoundingClientRect(); return (r.right > window.innerWidth + 1 || r.left < -1) && r.width > 0; })
        .slice(0, 12).map(e => e.tagName + '.' + e.className + '#' + e.id + ' ' + Math.round(e.getBoundingClientRect().left) + '..' + Math.round(e.getBoundingClientRect().right))""")
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1"), \
        (page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]"), wide)


def _open_claim(page, watan, claim):
    page.goto(f"/d/{watan.pk}")
    mark = page.locator(f".nq-article mark[data-claim='{claim.pk}'] a").first
    mark.click()
    panel = page.locator(f"#claim-{claim.pk}")
    panel.wait_for(state="visible")
    assert page.url.endswith(f"?claim={claim.pk}#claim-panel")  # shown in place, address kept for sharing
    return panel


def test_provenance_page_shows_a_claims_el_espanol_passage_and_the_tweet_as_origin(demo, new_page, shot):
    watan = Document.objects.get(url=WATAN_URL)
    claim = _tweet_claim()
    page = new_page()
    panel = _open_claim(page, watan, claim)
    cards = panel.locator(".nq-hop")
    texts = cards.all_inner_texts()
    es = next(i for i, t in enumerate(texts) if "El Español" in t)
    tw = next(i for i, t in enumerate(texts) if "Gantz" in t and i > es)
    assert "historic step" in texts[tw] and "origin" in texts[tw].lower()
    assert "Gantz" in texts[es] and "ES" in texts[es] and "translation" in texts[es]
    es_box, tw_box = cards.nth(es).bounding_box(), cards.nth(tw).bounding_box()
    assert tw_box["x"] > es_box["x"] + es_box["width"] - 1  # side by side, in reading order
    assert page.locator(".nq-pic").is_visible() and "translation of" in page.locator(".nq-pic").text_content()
    _no_horizontal_scroll(page)
    _no_serious_axe(page)
    shot(page.locator(".nq-reading"), "provenance-claim")
    shot(page.locator(".nq-pic-wrap"), "provenance-chain-picture")
    shot(page, "provenance-page")


def test_parallel_view_of_watan_and_el_espanol(demo, new_page, shot):
    watan, es = Document.objects.get(url=WATAN_URL), Document.objects.get(url=ELESPANOL_URL)
    page = new_page()
    page.goto(f"/d/{watan.pk}")
    page.get_by_role("link", name="Read side by side with El Español").first.click()
    page.wait_for_url(f"**/d/{watan.pk}/parallel/{es.pk}")
    rows = page.locator("table.nq-parallel tbody tr")
    assert rows.count() > 20
    first = rows.first.locator("td")
    assert first.nth(0).evaluate("e => getComputedStyle(e).direction") == "rtl"
    assert first.nth(2).evaluate("e => getComputedStyle(e).direction") == "ltr"
    assert page.locator("tr.r-reviewed").count() >= 15
    assert page.locator("tr.r-added, tr.r-dropped").count() >= 1
    _no_horizontal_scroll(page)
    _no_serious_axe(page)
    shot(page, "parallel")


def test_the_same_pages_with_the_interface_in_arabic(demo, new_page, shot):
    watan, es = Document.objects.get(url=WATAN_URL), Document.objects.get(url=ELESPANOL_URL)
    claim = _tweet_claim()
    page = new_page(locale="ar", extra_http_headers={"Accept-Language": "ar"})
    panel = _open_claim(page, watan, claim)
    assert page.evaluate("[document.documentElement.lang, document.documentElement.dir]") == ["ar", "rtl"]
    assert "مصدر" in page.locator("#claim-panel-h").inner_text() or "يأتي" in page.locator("#claim-panel-h").inner_text()
    texts = panel.locator(".nq-hop").all_inner_texts()
    assert any("We have taken a historic step" in t for t in texts)  # archived text never translated
    assert any("«Hemos dado un paso histórico»" in t for t in texts)
    cards = panel.locator(".nq-hop")
    es_i = next(i for i, t in enumerate(texts) if "Hemos dado" in t)
    tw_i = next(i for i, t in enumerate(texts) if "historic step" in t)
    assert cards.nth(tw_i).bounding_box()["x"] < cards.nth(es_i).bounding_box()["x"]  # right to left
    _no_horizontal_scroll(page)
    _no_serious_axe(page)
    shot(page.locator(".nq-reading"), "provenance-claim-ar")
    shot(page.locator(".nq-pic-wrap"), "provenance-chain-picture-ar")
    shot(page, "provenance-page-ar")
    page.goto(f"/d/{watan.pk}/parallel/{es.pk}")
    assert page.evaluate("document.documentElement.dir") == "rtl"
    _no_horizontal_scroll(page)
    _no_serious_axe(page)
    shot(page, "parallel-ar")


def test_citation_block_names_this_host_and_reads_left_to_right(demo, new_page, shot, live_server):
    v1 = demo["v1"]
    page = new_page()
    page.goto(f"/s/{v1.guid}")
    apa = page.locator("#cite-text-apa")
    text = apa.input_value()
    assert f"{live_server.url}/s/{v1.guid}" in text and "127.0.0.1:8000" not in text.replace(live_server.url, "")
    assert "(2021, November 27)" in text and "archived November 27, 2021" in text
    assert apa.evaluate("e => getComputedStyle(e).direction") == "ltr"
    # the date is laid out as written: its left edge is left of the month's
    box = page.evaluate("""() => {
      const ta = document.getElementById('cite-text-apa');
      const d = document.createElement('div');
      const cs = getComputedStyle(ta);
      d.style.cssText = 'position:absolute;visibility:hidden;white-space:pre-wrap;width:' + ta.clientWidth + 'px;font:' + cs.font;
      d.dir = ta.dir; d.lang = ta.lang;
      const t = ta.value; const i = t.indexOf('(2021, November 27)');
      d.append(t.slice(0, i));
      const y = document.createElement('span'); y.textContent = '(2021'; d.append(y);
      const m = document.createElement('span'); m.textContent = ', November 27)'; d.append(m);
      document.body.append(d);
      const r = [y.getBoundingClientRect(), m.getBoundingClientRect()];
      d.remove();
      return {year: r[0].left, month: r[1].left, sameLine: Math.abs(r[0].top - r[1].top) < 2};
    }""")
    if box["sameLine"]:
        assert box["year"] < box["month"], box
    _no_serious_axe(page)
    page.locator("#cite").scroll_into_view_if_needed()
    shot(page.locator("#cite"), "citation-block")


def test_admin_document_page_fits_1280_by_800_without_horizontal_scroll(demo, new_page, shot):
    watan = Document.objects.get(url=WATAN_URL)
    page = new_page(viewport=DESKTOP)
    login(page, next_url=f"/admin/provenance/document/{watan.pk}/change/")
    _no_horizontal_scroll(page)
    height = page.evaluate("document.documentElement.scrollHeight")
    print(f"admin document page: {height}px tall at 1280×800")
    first_field = page.locator("fieldset").first.locator(".form-row").first.inner_text()
    assert "URL" not in first_field and "SURT" not in first_field.upper()
    evidence = page.locator(".nq-evidence").first
    if evidence.count():
        assert evidence.evaluate("e => e.getBoundingClientRect().width") >= 200  # not one word per line
    shot(page, "admin-document-1280", full_page=False)
    shot(page, "admin-document-1280-full")
