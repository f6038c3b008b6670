"""Markdown building blocks that keep user text inert: HTML-significant characters become entities
and Markdown syntax is backslash-escaped, so a prompt renders as the text it is, never as markup."""

from __future__ import annotations

import html
import re

_MARKDOWN = re.compile(r"([\\`*_\[\]|~#])")


def text(value, limit: int | None = None) -> str:
    """One line of user text, safe inside a paragraph, a list item or a table cell."""
    s = "" if value is None else str(value)
    s = " ".join(s.split())  # newlines and tabs would break tables and lists
    if limit and len(s) > limit:
        s = s[: limit - 1] + "…"
    s = html.escape(s, quote=False)  # & < > as entities: no raw HTML reaches a renderer
    return _MARKDOWN.sub(r"\\\1", s)


def code_block(content: str, language: str = "") -> str:
    """A fenced block longer than any backtick run inside it."""
    longest = max((len(run) for run in re.findall(r"`+", content)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}{language}\n{content}\n{fence}"


def table(columns: list[str], rows: list[list[str]], numeric: list[bool] | None = None) -> str:
    """A GitHub-flavoured table; cells must already be escaped with `text`."""
    numeric = numeric or [False] * len(columns)
    lines = ["| " + " | ".join(columns) + " |",
             "|" + "|".join("---:" if n else "---" for n in numeric) + "|"]
    lines += ["| " + " | ".join(cell or " " for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def fields(rows) -> str:
    """(label, value) pairs as a two-column table."""
    return table(["", ""], [[f"**{text(label)}**", text(value)] for label, value in rows])


def report_table(tbl) -> str:
    """A tables.Table as Markdown; a plan's cell is marked when it is the baseline or the recommendation."""
    columns = [text(c.label) for c in tbl.columns]
    rows = []
    for row in tbl.rows:
        cells = []
        for column in tbl.columns:
            cell = row.cells.get(column.key)
            value = text(cell.text) if cell else ("" if not row.note else "—")
            if column.key == "plan":
                value = f"`{row.plan}`" if "`" not in row.plan else text(row.plan)
                value += " (baseline)" if row.baseline and "slice" not in row.cells else ""
                value += " **recommended**" if row.recommended and "slice" not in row.cells else ""
                if row.note:
                    value += f" — {text(row.status)}: {text(row.note, 160)}"
            cells.append(value)
        rows.append(cells)
    return table(columns, rows, [c.numeric for c in tbl.columns])
