"""Notebook tables are rich output (HTML and Markdown) holding exactly the values given."""

from __future__ import annotations

import math
from html.parser import HTMLParser

from spsr_lib.notebook.tables import format_value, table


class _Cells(HTMLParser):
    def __init__(self):
        super().__init__()
        self.rows, self._row, self._in = [], None, False

    def handle_starttag(self, tag, attrs):
        if tag == "tr":
            self._row = []
        elif tag in ("td", "th") and self._row is not None:
            self._in = True
            self._row.append("")

    def handle_endtag(self, tag):
        if tag == "tr":
            self.rows.append(self._row)
            self._row = None
        elif tag in ("td", "th"):
            self._in = False

    def handle_data(self, data):
        if self._in:
            self._row[-1] += data


ROWS = {"bicubic": {"PSNR (dB)": 26.6913, "SSIM": 0.78123, "LPIPS": None},
        "SPSR <demo>": {"PSNR (dB)": 24.5, "SSIM": 0.7, "LPIPS": 0.1234}}


def test_html_holds_every_value_in_order():
    t = table(ROWS, decimals={"PSNR (dB)": 2}, caption="Set5, standard protocol", index="method")
    parser = _Cells()
    parser.feed(t._repr_html_())
    assert parser.rows == [["method", "PSNR (dB)", "SSIM", "LPIPS"],
                           ["bicubic", "26.69", "0.7812", "n/a"],
                           ["SPSR <demo>", "24.50", "0.7000", "0.1234"]]
    assert "Set5, standard protocol" in t._repr_html_() and "&lt;demo&gt;" in t._repr_html_()


def test_markdown_is_a_pipe_table_and_plain_text_is_no_table():
    t = table(ROWS, columns=["SSIM", "PSNR (dB)"], decimals=3, notes=["LPIPS: AlexNet v0.1"])
    md = t._repr_markdown_().splitlines()
    assert md[:3] == ["|  | SSIM | PSNR (dB) |", "|---|---:|---:|", "| bicubic | 0.781 | 26.691 |"]
    assert md[-1].startswith("LPIPS: AlexNet")
    assert repr(t).startswith("<Table: 2 rows x 2 columns")


def test_format_value():
    assert [format_value(v) for v in (None, math.nan, 1234567, True, "x", 0.5)] == \
        ["n/a", "n/a", "1,234,567", "yes", "x", "0.5000"]
    assert table({"a": {"x|y": "p|q"}})._repr_markdown_().splitlines()[0] == "|  | x\\|y |"
