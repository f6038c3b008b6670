"""Export: a run as JSON (the full record) or CSV (one row per plan)."""

import streamlit as st

from dashboard.components import results_view, services
from engine.records import ok_plans
from engine.reports.mdtext import text as inert
from engine.reports.tabular import to_csv, to_json

st.title("Export")
run_id = results_view.pick_run()
if run_id is None:
    st.info("No stored runs to export yet.")
    st.stop()
record = services.run_record(run_id)
st.caption(f"{inert(record['model']['name'])} on {record['device']['name']} · {record['status']} · "
           f"{len(ok_plans(record))} of {len(record['plans'])} plans finished")
left, right = st.columns(2)
left.download_button("Download JSON (full run record)", to_json(record), file_name=f"compecon-{run_id}.json",
                     mime="application/json", icon=":material/data_object:", key="export_json")
right.download_button("Download CSV (one row per plan)", to_csv(record), file_name=f"compecon-{run_id}.csv",
                      mime="text/csv", icon=":material/table:", key="export_csv")
st.caption("The JSON carries every figure, the settings and cost assumptions, the verdict rule and the prompt "
           "set's sha256; CSV cells that a spreadsheet would run as formulas are neutralised.")

st.subheader("The compressed model")
results_view.deployable(record, "export")

st.subheader("Reports to forward")
st.caption("Built on click from the stored run: a self-contained HTML page (works offline), a PDF with a one-page "
           "cover, and the compression disclosure card (Markdown). Prompts and outputs are escaped.")
formats = {"HTML report": ("html", "text/html"), "PDF report": ("pdf", "application/pdf"),
           "Disclosure card (Markdown)": ("disclosure", "text/markdown")}
choice = st.radio("Report", list(formats), horizontal=True, key="report_format")
fmt, mime = formats[choice]
if st.button(f"Build {choice}", key="build_report", icon=":material/description:"):
    with st.spinner(f"Building the {choice} ..."):
        st.session_state["report_bytes"] = (run_id, fmt, services.report_bytes(run_id, fmt))
built = st.session_state.get("report_bytes")
if built and built[0] == run_id and built[1] == fmt:
    suffix = {"html": "html", "pdf": "pdf", "disclosure": "md"}[fmt]
    st.download_button(f"Download {choice}", built[2], file_name=f"compecon-{run_id}.{suffix}", mime=mime,
                       key="download_report", icon=":material/download:")
