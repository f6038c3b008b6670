"""Plotly figures of run records, shared by the dashboard and the reports (no streamlit here):
`style` (template, colours, axes), the builders (`results`, `speed`, `training`, `calibration`),
and `catalogue`, the one list of a run's charts with their captions."""
