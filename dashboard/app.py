"""The dashboard's router and shared sidebar only: pages live in app_pages/, logic in components/ and engine/."""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # `streamlit run dashboard/app.py` puts only dashboard/ on the path
    sys.path.insert(0, str(ROOT))

import streamlit as st  # noqa: E402

from dashboard.components import sidebar  # noqa: E402

st.set_page_config(page_title="Compression Economics", page_icon=":material/compress:", layout="wide")
page = st.navigation({
    "Runs": [
        st.Page("app_pages/new_run.py", title="New run", icon=":material/add_circle:", default=True),
        st.Page("app_pages/run.py", title="Run", icon=":material/autorenew:"),
        st.Page("app_pages/results.py", title="Results", icon=":material/insights:"),
        st.Page("app_pages/sweeps.py", title="Sweeps", icon=":material/grid_view:"),
    ],
    "Library": [
        st.Page("app_pages/history.py", title="History", icon=":material/history:"),
        st.Page("app_pages/export.py", title="Export", icon=":material/download:"),
    ],
})
sidebar.render(on_run_page=page.url_path == "run")
page.run()
