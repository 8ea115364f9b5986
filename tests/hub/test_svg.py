"""The hand-built SVG charts: well-formed XML, every text escaped, bars in proportion, titled for screen readers."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from hub.web.svg import bar_chart, grouped_bars, histogram, text_width

NS = {"svg": "http://www.w3.org/2000/svg"}


def parse(markup: str) -> ET.Element:
    root = ET.fromstring(str(markup))
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    return root


def bars(root: ET.Element) -> list[ET.Element]:
    return root.findall(".//svg:g[@data-value]", NS)


def test_a_bar_chart_is_valid_xml_with_a_title_and_a_description_named_by_aria():
    root = parse(bar_chart(["人社局", "医保局"], [4, 2], ident="c1", title="逾期办件", desc="按部门"))
    assert root.get("role") == "img"
    assert root.get("aria-labelledby") == "c1-title c1-desc"
    assert root.find("svg:title", NS).text == "逾期办件" and root.find("svg:title", NS).get("id") == "c1-title"
    assert root.find("svg:desc", NS).text == "按部门"
    assert [(g.get("data-label"), g.get("data-value")) for g in bars(root)] == [("人社局", "4"), ("医保局", "2")]
    # Each bar's tooltip and its number as text: readable without colour.
    assert [g.find("svg:title", NS).text for g in bars(root)] == ["人社局: 4", "医保局: 2"]
    assert [t.text for t in bars(root)[0].findall("svg:text", NS)] == ["人社局", "4"]


def test_bars_are_in_proportion_to_their_values():
    root = parse(bar_chart(["a", "b", "c"], [10, 5, 0], ident="p", title="t", desc="d"))
    widths = [float(g.find("svg:rect", NS).get("width")) for g in bars(root)]
    assert widths[0] > 0 and widths[1] == pytest.approx(widths[0] / 2, abs=0.1) and widths[2] == 0
    grouped = parse(grouped_bars(["w1", "w2"], [("收件", [8, 2]), ("办结", [4, 0])], ident="g", title="t", desc="d"))
    heights = {
        (g.get("data-label"), g.get("data-series")): float(g.find("svg:rect", NS).get("height")) for g in bars(grouped)
    }
    assert heights[("w1", "收件")] == pytest.approx(4 * heights[("w2", "收件")], abs=0.2)
    assert heights[("w1", "办结")] == pytest.approx(heights[("w1", "收件")] / 2, abs=0.2)
    assert heights[("w2", "办结")] == 0
    hist = parse(histogram(["<1h", "1-6h", "never"], [3, 6, 0], ident="h", title="t", desc="d"))
    heights_h = [float(g.find("svg:rect", NS).get("height")) for g in bars(hist)]
    assert heights_h[1] == pytest.approx(2 * heights_h[0], abs=0.2) and heights_h[2] == 0


def test_every_text_is_escaped():
    evil = '<script>alert("x")</script> & "quotes"'
    markup = str(
        grouped_bars([evil], [(evil, [1]), ("b&c", [2])], ident="g", title=evil, desc=evil, x_label=evil, y_label=evil)
    )
    assert "<script>" not in markup
    root = parse(markup)  # still well-formed: nothing broke out of an attribute or an element
    assert root.find("svg:title", NS).text == evil and root.find("svg:desc", NS).text == evil
    assert {g.get("data-label") for g in bars(root)} == {evil}
    assert {g.get("data-series") for g in bars(root)} == {evil, "b&c"}
    assert "<script>" not in str(bar_chart([evil], [1], ident="b", title=evil, desc=evil, value_label=evil))
    parse(histogram([evil], [1], ident="h", title=evil, desc=evil, colours=["#ff0000"]))
    with pytest.raises(ValueError, match="#rrggbb"):
        histogram([evil], [1], ident="h", title=evil, desc=evil, colours=['red" onload="y'])


def test_the_second_series_is_hatched_and_named_in_the_legend():
    root = parse(grouped_bars(["w1"], [("收件", [3]), ("办结", [1])], ident="g", title="t", desc="d"))
    fills = {g.get("data-series"): g.find("svg:rect", NS).get("fill") for g in bars(root)}
    assert fills["办结"] == "url(#g-hatch)" and root.find(".//svg:pattern[@id='g-hatch']", NS) is not None
    legend = [t.text for t in root.findall(".//svg:g[@class='legend']/svg:text", NS)]
    assert legend == ["收件", "办结"]


def test_an_axis_counts_in_whole_numbers_and_empty_data_draws():
    root = parse(histogram(["a", "b"], [0, 0], ident="e", title="t", desc="d"))
    numbers = [t.text for t in root.findall("svg:text", NS)]
    assert numbers[:2] == ["0", "1"]  # an axis from 0 to 1, not a division by zero
    small = parse(grouped_bars(["w"], [("n", [3])], ident="s", title="t", desc="d"))
    ticks = [t.text for t in small.findall("svg:text", NS) if t.text and t.text.isdigit()]
    assert "0.5" not in ticks and ticks[:4] == ["0", "1", "2", "3"]


def test_cjk_labels_get_the_room_they_need():
    assert text_width("县人力资源") == 5 * text_width("县")
    assert text_width("RS") < text_width("人社")
    root = parse(bar_chart(["县人力资源和社会保障局（社保中心）", "RS"], [1, 2], ident="w", title="t", desc="d"))
    first_rect_x = float(bars(root)[0].find("svg:rect", NS).get("x"))
    assert first_rect_x >= text_width("县人力资源和社会保障局（社保中心）")


def test_mismatched_data_is_refused():
    with pytest.raises(ValueError, match="one value per label"):
        bar_chart(["a"], [1, 2], ident="x", title="t", desc="d")
    with pytest.raises(ValueError, match="one value per category"):
        grouped_bars(["a", "b"], [("s", [1])], ident="x", title="t", desc="d")
    with pytest.raises(ValueError, match="chart id"):
        histogram(["a"], [1], ident='h"><script>', title="t", desc="d")
