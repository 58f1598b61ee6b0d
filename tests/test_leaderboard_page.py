"""The leaderboard page, opened in a real headless Chromium.

This test exercises the page only: it builds `Table`s of `Row`s by hand (two datasets, one a
``*_subset`` table, one unranked row, one row with one seed and so no std) instead of collecting
submissions, which the leaderboard's own tests do. The browser is Debian's ``chromium`` with its
``chromium-driver``, driven by selenium with explicit paths, so nothing is downloaded at run
time. Without them the browser tests skip, except under ``ARENA_REQUIRE_BROWSER=1`` (CI), where
they fail. ``ARENA_PAGE_SCREENSHOT=PATH`` also copies the screenshot to PATH.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path

import pytest

from arena.leaderboard._page import render_html
from arena.leaderboard._rows import Row, Table

CHROMIUM = ("/usr/bin/chromium", "/usr/bin/chromium-browser")
CHROMEDRIVER = "/usr/bin/chromedriver"
HOSTILE = '<script>alert("x")</script> & co'


def _row(dataset: str, slug: str, rank: int | None, **changes) -> Row:
    fields = dict(
        dataset=dataset, slug=slug, rank=rank, method=slug.upper(), url=f"https://example.org/{slug}",
        test_mean=0.9, test_std=0.01, num_seeds=3, val_mean=0.91, num_parameters=10_000,
        input_kind="flat", protocol="v1", dataset_version="1.0", manifest_short="0123abcd",
        date="2025-01-02", verified="verified" if rank is not None else "unverified dataset",
        hardware="cpu: test machine",
    )
    fields.update(changes)
    return Row(**fields)


DIGITS = Table("neural_digits", "full", (
    _row("neural_digits", "gnn", 1, test_mean=0.962, test_std=0.004, num_parameters=1_234_567,
         input_kind="graph"),
    _row("neural_digits", "dws", 2, test_mean=0.951, test_std=0.006, num_parameters=98_765,
         input_kind="layers"),
    _row("neural_digits", "mlp", 3, test_mean=0.903, test_std=0.012, num_parameters=402_000,
         url="javascript:alert(1)"),
    _row("neural_digits", "odd-build", None, method=HOSTILE, test_mean=0.97, num_parameters=5_000,
         url=None, input_kind="graph"),
))
SUBSET = Table("neural_mnist_subset", "subset", (
    _row("neural_mnist_subset", "mlp", 1, test_mean=0.81, test_std=0.02, num_parameters=402_000),
    _row("neural_mnist_subset", "single-seed", 2, test_mean=0.78, test_std=None, num_seeds=1,
         num_parameters=21_000, input_kind="layers"),
))
TABLES = (DIGITS, SUBSET)


def test_render_is_byte_identical_for_the_same_input():
    first = render_html(TABLES)
    assert render_html(TABLES) == first
    assert render_html([Table(t.dataset, t.kind, tuple(t.rows)) for t in TABLES]).encode() == first.encode()


class _Resources(HTMLParser):
    """Every attribute through which a tag other than a link would load something."""

    LOADING = {"src", "href", "srcset", "data", "action", "poster", "xlink:href", "background"}

    def __init__(self) -> None:
        super().__init__()
        self.loads: list[tuple[str, str, str]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag != "a":
            self.loads += [(tag, k, v or "") for k, v in attrs if k in self.LOADING]


def test_page_loads_nothing_from_the_network():
    page = render_html(TABLES)
    parser = _Resources()
    parser.feed(page)
    assert not [load for load in parser.loads if "//" in load[2]]
    assert "url(" not in page and "@import" not in page
    assert 'href="https://example.org/gnn"' in page  # method links are links, not loads


def test_only_web_addresses_become_links_and_names_are_escaped():
    page = render_html(TABLES)
    assert "javascript:" not in page
    assert HOSTILE not in page and "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; co" in page


# In the browser


def _require_browser(reason: str) -> None:
    if os.environ.get("ARENA_REQUIRE_BROWSER") == "1":
        pytest.fail(f"{reason} (ARENA_REQUIRE_BROWSER=1 makes a missing browser a failure; "
                    "`bash scripts/setup.sh` installs it as root)")
    pytest.skip(f"{reason}; the leaderboard page test needs `apt-get install chromium chromium-driver`")


@pytest.fixture(scope="module")
def driver() -> Iterator[object]:
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        _require_browser("selenium is not installed (`pip install -e .[dev]`)")
    binary = next((path for path in CHROMIUM if os.access(path, os.X_OK)), None)
    if binary is None or not os.access(CHROMEDRIVER, os.X_OK):
        _require_browser(f"no Chromium at {' or '.join(CHROMIUM)} with a driver at {CHROMEDRIVER}")
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--window-size=1300,900"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    browser = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    try:
        yield browser
    finally:
        browser.quit()


def _open(driver, tmp_path: Path, tables) -> object:
    page = tmp_path / "index.html"
    page.write_text(render_html(tables), encoding="utf-8")
    driver.get_log("browser")  # what earlier pages logged; the new page's own log is kept
    driver.get(page.as_uri())
    return driver


@pytest.fixture
def page(driver, tmp_path: Path):
    return _open(driver, tmp_path, TABLES)


def _css(driver, selector: str) -> list:
    from selenium.webdriver.common.by import By

    return driver.find_elements(By.CSS_SELECTOR, selector)


def _slugs(driver, dataset: str) -> list[str]:
    rows = _css(driver, f'table[data-dataset="{dataset}"] tr.entry')
    return [row.get_attribute("data-slug") for row in rows]


def _shown(driver, selector: str) -> list[str]:
    return [el.get_attribute("data-slug") for el in _css(driver, selector) if el.is_displayed()]


def _severe(driver) -> list[dict]:
    return [entry for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]


def test_every_row_is_in_its_table_in_the_given_order(page):
    for table in TABLES:
        assert _slugs(page, table.dataset) == [row.slug for row in table.rows]
    methods = [td.text for td in _css(page, 'table[data-dataset="neural_digits"] tr.entry td:nth-child(2)')]
    assert methods == ["GNN", "DWS", "MLP", HOSTILE]  # the hostile name is text, not markup


def test_unranked_rows_show_a_dash_and_are_marked(page):
    unranked = _css(page, "tr.entry.unranked")
    assert [row.get_attribute("data-slug") for row in unranked] == ["odd-build"]
    assert unranked[0].find_element("css selector", "td").text == "–"
    ranked = _css(page, 'table[data-dataset="neural_digits"] tr.entry:not(.unranked)')[0]
    assert unranked[0].value_of_css_property("font-style") != ranked.value_of_css_property("font-style")


def test_cells_show_percent_seeds_and_thousands_separators(page):
    cells = [td.text for td in _css(page, 'table[data-dataset="neural_mnist_subset"] tr.entry td')]
    assert cells[:5] == ["1", "MLP", "81.00 ± 2.00 (3 seeds)", "91.00", "402,000"]
    assert cells[11 + 2] == "78.00 (1 seed)"  # no std with a single seed


def test_clicking_a_column_header_sorts_and_a_second_click_reverses(page):
    header = _css(page, 'table[data-dataset="neural_digits"] th:nth-child(5) button')[0]
    assert header.text.startswith("parameters")
    header.click()
    assert _slugs(page, "neural_digits") == ["odd-build", "dws", "mlp", "gnn"]
    header.click()
    assert _slugs(page, "neural_digits") == ["gnn", "mlp", "dws", "odd-build"]
    assert _slugs(page, "neural_mnist_subset") == ["mlp", "single-seed"]  # other tables untouched


def test_sorting_by_rank_keeps_unranked_rows_last(page):
    rank = _css(page, 'table[data-dataset="neural_digits"] th:nth-child(1) button')[0]
    rank.click()  # the rows arrive ascending, so the first click is descending
    assert _slugs(page, "neural_digits") == ["mlp", "dws", "gnn", "odd-build"]


def test_dataset_filter_hides_the_other_datasets_tables_and_charts(page):
    from selenium.webdriver.support.select import Select

    Select(_css(page, "select#dataset-filter")[0]).select_by_value("neural_mnist_subset")
    assert [t.is_displayed() for t in _css(page, "table[data-dataset]")] == [False, True]
    assert [c.is_displayed() for c in _css(page, "svg.chart[data-dataset]")] == [False, True]
    Select(_css(page, "select#dataset-filter")[0]).select_by_value("all")
    assert all(t.is_displayed() for t in _css(page, "table[data-dataset], svg.chart"))


def test_input_kind_filter_hides_rows_and_marks_of_other_kinds(page):
    from selenium.webdriver.support.select import Select

    Select(_css(page, "select#input-filter")[0]).select_by_value("graph")
    assert _shown(page, "tr.entry") == ["gnn", "odd-build"]
    assert _shown(page, "svg.chart circle.mark[data-slug]") == ["gnn", "odd-build"]
    Select(_css(page, "select#input-filter")[0]).select_by_value("all")
    assert len(_shown(page, "tr.entry")) == 6


def test_each_chart_has_one_mark_per_row_and_error_bars_only_with_a_std(page):
    for table in TABLES:
        chart = f'svg.chart[data-dataset="{table.dataset}"]'
        marks = _css(page, f"{chart} circle.mark[data-slug]")
        assert [m.get_attribute("data-slug") for m in marks] == [row.slug for row in table.rows]
        for row in table.rows:
            bars = _css(page, f'{chart} g.point[data-slug="{row.slug}"] line.err')
            assert len(bars) == (0 if row.test_std is None else 3)
    tip = _css(page, 'svg.chart[data-dataset="neural_digits"] circle.mark[data-slug="gnn"] title')[0]
    assert tip.get_attribute("textContent").startswith("GNN: 96.20 ± 0.40")


def test_marks_are_placed_by_parameters_and_accuracy(page):
    def centre(slug: str) -> tuple[float, float]:
        mark = _css(page, f'svg.chart[data-dataset="neural_digits"] circle.mark[data-slug="{slug}"]')[0]
        return float(mark.get_attribute("cx")), float(mark.get_attribute("cy"))

    assert centre("odd-build")[0] < centre("dws")[0] < centre("mlp")[0] < centre("gnn")[0]
    assert centre("odd-build")[1] < centre("gnn")[1] < centre("mlp")[1]  # more accurate is higher up


def test_the_console_has_no_errors_after_using_every_control(page, tmp_path: Path):
    from selenium.webdriver import ActionChains
    from selenium.webdriver.support.select import Select

    for header in _css(page, "th button"):
        header.click()
    ActionChains(page).move_to_element(_css(page, "tr.entry")[0]).perform()
    for value in ("neural_digits", "all"):
        Select(_css(page, "select#dataset-filter")[0]).select_by_value(value)
    for value in ("layers", "all"):
        Select(_css(page, "select#input-filter")[0]).select_by_value(value)
    _css(page, 'table[data-dataset="neural_digits"] th:nth-child(1) button')[0].click()
    assert _severe(page) == []
    _screenshot(page, tmp_path)


def _screenshot(driver, tmp_path: Path) -> None:
    """The whole page, unsorted and unfiltered, in one image."""
    driver.get(driver.current_url)
    chrome = driver.execute_script("return window.outerHeight - window.innerHeight")
    height = driver.execute_script("return document.documentElement.scrollHeight")
    driver.set_window_size(1300, height + chrome)
    shot = tmp_path / "leaderboard.png"
    assert driver.save_screenshot(str(shot))
    if os.environ.get("ARENA_PAGE_SCREENSHOT"):
        shutil.copyfile(shot, os.environ["ARENA_PAGE_SCREENSHOT"])
    driver.set_window_size(1300, 900)


def test_empty_and_single_row_tables_draw_without_errors(driver, tmp_path: Path):
    lone = _row("neural_shapes", "alone", 1, num_parameters=1000, test_std=None, num_seeds=1)
    tables = [Table("neural_mnist", "full", ()), Table("neural_shapes", "full", (lone,))]
    page = _open(driver, tmp_path, tables)
    assert _css(page, 'table[data-dataset="neural_mnist"] tr.entry') == []
    assert _css(page, 'svg.chart[data-dataset="neural_mnist"] circle.mark[data-slug]') == []
    mark = _css(page, 'svg.chart[data-dataset="neural_shapes"] circle.mark[data-slug]')
    assert len(mark) == 1
    chart = _css(page, 'svg.chart[data-dataset="neural_shapes"]')[0].rect
    box = mark[0].rect
    assert chart["x"] < box["x"] < chart["x"] + chart["width"]
    assert chart["y"] < box["y"] < chart["y"] + chart["height"]
    for header in _css(page, "th button"):
        header.click()
    assert _severe(page) == []
