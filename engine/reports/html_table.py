"""HTML pieces every report section uses: escaping, plan labels, the data tables and field lists.

Every string from a run goes through `e()` (html.escape, quotes included) on its way in.
"""

from __future__ import annotations

import html

from engine.reports import tables


def e(value) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def plan_label(plan: str, colour: str, baseline: bool = False, recommended: bool = False) -> str:
    badges = ('<span class="badge base">baseline</span>' if baseline else "") + (
        '<span class="badge rec">recommended</span>' if recommended else "")
    return (f'<span class="plan-name"><span class="swatch" style="background:{e(colour)}"></span>'
            f"<code>{e(plan)}</code></span>" + (f" <wbr>{badges}" if badges else ""))


def _cell(column: tables.Column, row: tables.Row, in_slices: bool) -> str:
    cell = row.cells.get(column.key)
    if column.key == "plan":
        label = plan_label(row.plan, row.colour, row.baseline and not in_slices, row.recommended and not in_slices)
        if row.note:
            label += f'<span class="badge status">{e(row.status)}</span>'
        return f'<td class="plan">{label}</td>'
    if column.key == "verdict" and cell and cell.text in ("within", "outside", "inconclusive"):
        return f'<td><span class="badge {e(cell.text)}">{e(cell.text)}</span></td>'
    classes = " ".join(c for c in ("num" if column.numeric else "", cell.tone if cell else "") if c)
    return f'<td class="{classes}">{e(cell.text if cell else "")}</td>'


def _group_spans(tbl: tables.Table) -> list[int]:
    """Rows of a slice table share one slice cell: its row span on the first row, 0 on the others."""
    spans, n = [], 0
    while n < len(tbl.rows):
        label = tbl.rows[n].cells["slice"].text
        size = 1
        while n + size < len(tbl.rows) and tbl.rows[n + size].cells["slice"].text == label:
            size += 1
        spans += [size] + [0] * (size - 1)
        n += size
    return spans


def table(tbl: tables.Table, caption: bool = True) -> str:
    in_slices = any(c.key == "slice" for c in tbl.columns)
    spans = _group_spans(tbl) if in_slices else []
    head = "".join(f'<th class="{"num" if c.numeric else ""}">{e(c.label)}</th>' for c in tbl.columns)
    body = []
    for n, row in enumerate(tbl.rows):
        cells = []
        for column in tbl.columns:
            if column.key == "slice":
                if spans[n]:
                    cells.append(f'<td class="group" rowspan="{spans[n]}">{e(row.cells["slice"].text)}</td>')
                continue
            cells.append(_cell(column, row, in_slices))
        classes = " ".join(c for c in ("recommended" if row.recommended and not in_slices else "",
                                       "group-start" if in_slices and spans[n] else "") if c)
        body.append(f'<tr class="{classes}">{"".join(cells)}</tr>')
        if row.note:
            body.append(f'<tr><td class="note" colspan="{len(tbl.columns)}">{e(row.plan)}: {e(row.note)}</td></tr>')
    text = f'<p class="caption">{e(tbl.caption)}</p>' if caption and tbl.caption else ""
    return (f'<div class="table-wrap"><table class="data"><thead><tr>{head}</tr></thead>'
            f'<tbody>{"".join(body)}</tbody></table></div>{text}')


def fields(rows) -> str:
    body = "".join(f"<tr><th>{e(label)}</th><td>{e(value)}</td></tr>" for label, value in rows)
    return f'<table class="fields"><tbody>{body}</tbody></table>'
