"""The Streamlit dashboard: a router (app.py), short pages (app_pages/), and components."""
