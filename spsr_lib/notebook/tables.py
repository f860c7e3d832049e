"""Tables for the notebooks as rich output: HTML (JupyterLab, GitHub, HTML exports) and Markdown, never
fixed-width text that wraps on a narrow page.

:func:`table` takes ``{row label: {column: value}}`` (the shape of the notebooks' metric dicts and of
:func:`spsr_lib.notebook.plots.metric_bars`'s input) and gives a :class:`Table`, which Jupyter displays through
its ``_repr_html_`` / ``_repr_markdown_``; ``text/plain`` is a short summary, not the table.
Pure Python: no IPython import.
"""

from __future__ import annotations

import html
import math
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["Table", "table", "format_value"]


def format_value(value: Any, decimals: int = 4) -> str:
    """``0.12345`` -> ``"0.1235"``; ints with thousands separators; None / NaN -> ``"n/a"``; text as is."""
    if value is None:
        return "n/a"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if math.isnan(value):
            return "n/a"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return f"{value:.{decimals}f}"
    return str(value)


class Table:
    """A table of rows (label -> {column: value}) shown as HTML or Markdown.

    ``decimals`` is one number for every column or ``{column: decimals}`` (columns not named: 4);
    ``caption`` is a line above the table, ``notes`` lines under it.
    """

    def __init__(self, rows: Mapping[str, Mapping[str, Any]], columns: Sequence[str] | None = None,
                 decimals: int | Mapping[str, int] = 4, caption: str | None = None, index: str = "",
                 notes: Sequence[str] = ()):
        self.rows = {str(k): dict(v) for k, v in rows.items()}
        if columns is None:
            seen: dict[str, None] = {}
            for row in self.rows.values():
                seen.update(dict.fromkeys(row))
            columns = list(seen)
        self.columns = [str(c) for c in columns]
        self.decimals = decimals
        self.caption = caption
        self.index = index
        self.notes = list(notes)

    def _decimals(self, column: str) -> int:
        return self.decimals.get(column, 4) if isinstance(self.decimals, Mapping) else int(self.decimals)

    def cells(self) -> list[list[str]]:
        """The formatted body: one list per row, the label first."""
        return [[label] + [format_value(row.get(c), self._decimals(c)) for c in self.columns]
                for label, row in self.rows.items()]

    def _repr_html_(self) -> str:
        esc = html.escape
        head = "".join(f"<th>{esc(c)}</th>" for c in [self.index, *self.columns])
        body = "".join("<tr>" + f"<th style='text-align:left'>{esc(r[0])}</th>"
                       + "".join(f"<td style='text-align:right'>{esc(v)}</td>" for v in r[1:]) + "</tr>"
                       for r in self.cells())
        cap = f"<caption style='caption-side:top;text-align:left'>{esc(self.caption)}</caption>" if self.caption else ""
        notes = "".join(f"<div style='font-size:90%'>{esc(n)}</div>" for n in self.notes)
        return f"<table>{cap}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>{notes}"

    def _repr_markdown_(self) -> str:
        def cell(text: str) -> str:
            return text.replace("|", "\\|")

        lines = [f"**{cell(self.caption)}**", ""] if self.caption else []
        lines.append("| " + " | ".join(cell(c) for c in [self.index, *self.columns]) + " |")
        lines.append("|---|" + "---:|" * len(self.columns))
        lines += ["| " + " | ".join(cell(v) for v in r) + " |" for r in self.cells()]
        if self.notes:
            lines += [""] + [f"{cell(n)}  " for n in self.notes]
        return "\n".join(lines)

    def __repr__(self) -> str:
        return f"<Table: {len(self.rows)} rows x {len(self.columns)} columns ({', '.join(self.columns)})>"


def table(rows: Mapping[str, Mapping[str, Any]], columns: Sequence[str] | None = None,
          decimals: int | Mapping[str, int] = 4, caption: str | None = None, index: str = "",
          notes: Sequence[str] = ()) -> Table:
    """A :class:`Table`; end a cell with it, or ``display(table(...))``."""
    return Table(rows, columns=columns, decimals=decimals, caption=caption, index=index, notes=notes)
