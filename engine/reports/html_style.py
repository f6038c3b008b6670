"""The report's stylesheet: screen layout, and print rules for the PDF (A4, cover page, no
orphaned headings, tables and charts kept whole)."""

CSS = """
:root {
  --ink: #1f2937; --muted: #64748b; --faint: #94a3b8; --line: #e2e8f0; --panel: #f8fafc;
  --accent: #1d4ed8; --good: #15803d; --bad: #b91c1c; --good-bg: #f0fdf4; --bad-bg: #fef2f2;
  --warn: #b45309; --warn-bg: #fffbeb; --info-bg: #eff6ff;
}
* { box-sizing: border-box; }
html { -webkit-print-color-adjust: exact; print-color-adjust: exact; }
body {
  margin: 0; color: var(--ink); background: #fff; font-size: 14px; line-height: 1.5;
  font-family: Inter, "Segoe UI", Roboto, "Helvetica Neue", "Liberation Sans", "DejaVu Sans", Arial, sans-serif;
  font-variant-numeric: tabular-nums;
}
main { max-width: 1240px; margin: 0 auto; padding: 32px 32px 64px; }
h1 { font-size: 28px; line-height: 1.2; margin: 4px 0 6px; letter-spacing: -0.01em; }
h2 { font-size: 21px; margin: 44px 0 6px; padding-bottom: 6px; border-bottom: 2px solid var(--ink); }
h3 { font-size: 16px; margin: 28px 0 8px; }
h4 { font-size: 13px; margin: 16px 0 6px; text-transform: uppercase; letter-spacing: 0.04em; color: var(--muted); }
p { margin: 6px 0 10px; }
code, pre, .mono { font-family: "DejaVu Sans Mono", "Liberation Mono", Menlo, Consolas, monospace; font-size: 12.5px; }
.eyebrow { text-transform: uppercase; letter-spacing: 0.12em; font-size: 11.5px; color: var(--muted);
  font-weight: 600; }
.meta { color: var(--muted); font-size: 13px; margin: 0; }
.caption { color: var(--muted); font-size: 12.5px; margin: 6px 0 0; }
.report-head { border-bottom: 1px solid var(--line); padding-bottom: 14px; margin-bottom: 8px; }
nav.toc { font-size: 13px; color: var(--muted); margin: 10px 0 0; }
nav.toc a { color: var(--accent); text-decoration: none; margin-right: 14px; white-space: nowrap; }

.callout { border-left: 5px solid var(--accent); background: var(--info-bg); padding: 14px 18px; border-radius: 6px;
  margin: 16px 0; }
.callout .label { text-transform: uppercase; letter-spacing: 0.08em; font-size: 11.5px; font-weight: 700;
  color: var(--accent); }
.callout .sentence { font-size: 17px; font-weight: 600; margin: 4px 0 0; line-height: 1.4; }
.callout.recommend { border-color: var(--good); background: var(--good-bg); }
.callout.recommend .label { color: var(--good); }
.callout.none, .callout.incomplete, .callout.warning { border-color: var(--warn); background: var(--warn-bg); }
.callout.none .label, .callout.incomplete .label, .callout.warning .label { color: var(--warn); }
.callout.not-applicable { border-color: var(--muted); background: var(--panel); }
.callout.not-applicable .label { color: var(--muted); }
.callout.warning .sentence { font-size: 14px; font-weight: 500; }

ul.key-points { margin: 4px 0 14px; padding-left: 20px; font-size: 14px; }
ul.key-points li { margin: 3px 0; }
.plan-name { white-space: nowrap; }
.facts { display: grid; grid-template-columns: repeat(4, minmax(0, 1fr)); gap: 10px; margin: 14px 0; }
.facts div { background: var(--panel); border: 1px solid var(--line); border-radius: 6px; padding: 8px 12px; }
.facts dt { font-size: 11px; text-transform: uppercase; letter-spacing: 0.06em; color: var(--muted); }
.facts dd { margin: 2px 0 0; font-weight: 600; font-size: 13px; overflow-wrap: anywhere; }

.cards { display: grid; grid-template-columns: repeat(auto-fill, minmax(280px, 1fr)); gap: 12px; margin: 12px 0; }
.card { border: 1px solid var(--line); border-top: 4px solid var(--plan, var(--faint)); border-radius: 6px;
  padding: 10px 14px; background: #fff; }
.card .name { font-weight: 700; overflow-wrap: anywhere; line-height: 1.8; }
.card .name code { font-size: 13px; }
.card dl { display: grid; grid-template-columns: 1fr auto; gap: 3px 12px; margin: 8px 0 4px; font-size: 13px; }
.card dt { color: var(--muted); }
.card dd { margin: 0; text-align: right; font-weight: 600; white-space: nowrap; }

.swatch { display: inline-block; width: 10px; height: 10px; border-radius: 2px; flex: none; margin-right: 6px;
  vertical-align: baseline; }
.badge { display: inline-block; font-size: 10.5px; font-weight: 700; padding: 1px 6px; border-radius: 10px;
  text-transform: uppercase; letter-spacing: 0.04em; margin-left: 6px; vertical-align: 1px; white-space: nowrap; }
.badge.base { background: #e2e8f0; color: #334155; }
.badge.rec { background: #dcfce7; color: var(--good); }
.badge.within { background: #dcfce7; color: var(--good); }
.badge.outside { background: #fee2e2; color: var(--bad); }
.badge.inconclusive { background: #fef3c7; color: #b45309; }
.badge.status { background: #fef3c7; color: var(--warn); }
.good { color: var(--good); font-weight: 600; }
.bad { color: var(--bad); font-weight: 600; }

.table-wrap { overflow-x: auto; margin: 8px 0; }
table.data { border-collapse: collapse; width: 100%; font-size: 12.5px; }
table.data td, table.data th { hyphens: auto; }
table.data th { text-align: left; font-weight: 600; color: #475569; font-size: 11.5px; vertical-align: bottom;
  border-bottom: 2px solid #cbd5e1; padding: 6px 8px; background: #fff; }
table.data td { border-bottom: 1px solid var(--line); padding: 5px 8px; vertical-align: top; }
table.data tr:nth-child(even) td { background: #fbfcfe; }
table.data td.num { text-align: right; white-space: nowrap; }
table.data th.num { text-align: right; }
table.data td.plan code { white-space: nowrap; }
table.data td:first-child:not(.plan) { white-space: nowrap; }
table.data td.plan { min-width: 9em; }
table.data td.group { font-weight: 600; white-space: nowrap; background: #fff !important; }
table.data tr.group-start td { border-top: 1.5px solid #cbd5e1; }
table.data.steps { margin: 4px 0 0; table-layout: fixed; }
table.data.steps th:nth-child(1) { width: 24%; }
table.data.steps th:nth-child(2) { width: 24%; }
table.data.steps th:nth-child(4) { width: 9%; }
table.data.steps td { overflow-wrap: anywhere; }
.plan-block { border: 1px solid var(--line); border-left: 4px solid var(--plan, var(--faint)); border-radius: 6px;
  padding: 10px 14px; margin: 10px 0; break-inside: avoid; }
.plan-block .name { font-weight: 700; }
.plan-block .caption { margin: 2px 0 6px; }
table.data tr.recommended td { background: #f0fdf4; }
table.data td.note { color: var(--muted); font-style: italic; }
table.fields { border-collapse: collapse; width: 100%; font-size: 13px; }
table.fields th { text-align: left; color: var(--muted); font-weight: 600; width: 30%; padding: 5px 12px 5px 0;
  vertical-align: top; border-bottom: 1px solid var(--line); }
table.fields td { padding: 5px 0; border-bottom: 1px solid var(--line); overflow-wrap: anywhere; }

.charts { display: grid; grid-template-columns: repeat(2, minmax(0, 1fr)); gap: 18px; margin: 12px 0; }
figure.chart { margin: 0; border: 1px solid var(--line); border-radius: 6px; padding: 8px 10px 10px; background: #fff; }
figure.chart img { width: 100%; height: auto; display: block; }
figure.chart.wide { grid-column: 1 / -1; }
.left-out { color: var(--muted); font-size: 12.5px; }

.samples { display: grid; gap: 12px; }
.sample { border: 1px solid var(--line); border-left: 4px solid var(--plan, var(--faint)); border-radius: 6px;
  padding: 10px 14px; break-inside: avoid; }
.sample .head { display: flex; flex-wrap: wrap; gap: 4px 14px; font-size: 12.5px; color: var(--muted); }
.sample .prompt { margin: 6px 0; white-space: pre-wrap; overflow-wrap: anywhere; font-weight: 600; }
.sample .outs { display: grid; grid-template-columns: 1fr 1fr; gap: 10px; }
.sample .out { background: var(--panel); border-radius: 4px; padding: 6px 10px; }
.sample .out h5 { margin: 0 0 2px; font-size: 11px; text-transform: uppercase; letter-spacing: 0.05em;
  color: var(--muted); }
.sample .out p { margin: 0; white-space: pre-wrap; overflow-wrap: anywhere; }

pre.command { background: #0f172a; color: #e2e8f0; padding: 12px 14px; border-radius: 6px; white-space: pre-wrap;
  overflow-wrap: anywhere; }
ul.notes { margin: 6px 0; padding-left: 20px; color: #334155; }
ul.notes li { margin: 3px 0; }
details.why { border: 1px solid var(--line); border-radius: 6px; padding: 8px 12px; margin: 8px 0; }
details.why summary { cursor: pointer; font-weight: 600; }

.disclosure { border: 2px solid var(--ink); border-radius: 8px; padding: 4px 22px 18px; margin: 24px 0; }
.disclosure h3 { font-size: 19px; margin-top: 16px; }
.disclosure h4 { border-bottom: 1px solid var(--line); padding-bottom: 3px; }

.cover { display: none; }
footer.report-foot { margin-top: 48px; color: var(--muted); font-size: 12px; border-top: 1px solid var(--line);
  padding-top: 10px; }

@media (max-width: 860px) {
  .charts, .sample .outs { grid-template-columns: 1fr; }
  .facts { grid-template-columns: repeat(2, minmax(0, 1fr)); }
}

@page { size: A4; margin: 16mm 13mm 16mm 13mm; }
@media print {
  body { font-size: 10pt; }
  main { max-width: none; padding: 0; }
  h1 { font-size: 22pt; }
  h2 { font-size: 15pt; margin-top: 0; break-before: page; }
  h3 { font-size: 12pt; margin-top: 18px; }
  h2, h3, h4 { break-after: avoid; }
  nav.toc, .screen-only { display: none; }
  .cover { display: block; break-after: page; }
  .cover h1 { font-size: 26pt; margin-top: 8mm; }
  .cover .callout .sentence { font-size: 14pt; }
  .cover h3 + .callout .sentence { font-size: 11.5pt; }
  .cover .callout { margin: 8px 0; }
  .cover .assumptions { color: var(--muted); font-size: 9pt; }
  .report-head.screen-only { display: none; }
  .charts { grid-template-columns: 1fr; gap: 10px; }
  figure.chart { break-inside: avoid; border: none; padding: 0; }
  figure.chart img { width: 100%; }
  .table-wrap { overflow: visible; }
  table.data { font-size: 7.6pt; }
  table.data th { font-size: 7.2pt; }
  table.data td, table.data th { padding: 3px 4px; }
  table.data tr { break-inside: avoid; }
  table.fields { font-size: 8.6pt; }
  .cards { grid-template-columns: repeat(3, minmax(0, 1fr)); }
  .card, .callout, .disclosure h4, pre.command { break-inside: avoid; }
  .sample { font-size: 8.6pt; padding: 6px 10px; }
  .sample .outs { grid-template-columns: 1fr 1fr; gap: 8px; }
  .samples { gap: 8px; }
  table.data code { font-size: 7.2pt; }
  table.data .badge { font-size: 6.2pt; padding: 0 4px; }
  table.fields code, .caption code { font-size: 8pt; }
  code, pre { font-size: 8.4pt; }
  details.why p { font-size: 9pt; margin: 2px 0 8px; }
  ul.key-points { font-size: 10pt; }
  .cover table.data { font-size: 9pt; }
  .cover table.data th { font-size: 8pt; }
  .cover table.data code { font-size: 8.6pt; }
  .cover ul.key-points { font-size: 11pt; margin: 10px 0 16px; }
  .cover ul.key-points li { margin: 5px 0; }
  .disclosure { border: none; padding: 0; break-before: page; }
  details.why { border: none; padding: 0; }
  details.why summary { list-style: none; }
  a { color: inherit; text-decoration: none; }
}
"""
