"""Per-prompt drill-down: which prompts did a plan break, and what did it answer instead?
User text is shown with st.text / st.dataframe only: it is never rendered as HTML or markdown."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from dashboard.components import services
from engine.records import broke_first, is_ok


def _effect(r: dict) -> str:
    if r.get("baseline_correct") and r.get("correct") is False:
        return "broke (right → wrong)"
    if r.get("baseline_correct") is False and r.get("correct"):
        return "fixed (wrong → right)"
    if not r.get("same_generation", True):
        return "different output"
    return "same output"


def drilldown(record: dict) -> None:
    plans = [(i, p["plan"]) for i, p in enumerate(record["plans"]) if i > 0 and is_ok(p)]
    if not plans:
        st.caption("No finished compressed plan to drill into.")
        return
    position = st.selectbox("Plan", [i for i, _ in plans], format_func=dict(plans).get, key="drill_plan")
    records = broke_first(services.store().prompt_records(record["run_id"], position))
    if not records:
        st.caption("No per-prompt records for this plan (no prompts were evaluated, or the model is a shape).")
        return
    broke = sum(1 for r in records if _effect(r).startswith("broke"))
    st.caption(f"{broke} of {len(records)} prompts went from right to wrong under this plan; listed first, then "
               "the prompts whose next-token distribution moved most (KL divergence from the baseline).")
    frame = pd.DataFrame([{"#": r["index"], "effect": _effect(r), "KL (nats)": r.get("kl"),
                           "top-1 agreement": r.get("top1_agreement"), "category": r.get("category"),
                           "prompt": r["prompt"]} for r in records])
    st.dataframe(frame, hide_index=True, height=260,
                 column_config={"KL (nats)": st.column_config.NumberColumn(format="%.4f"),
                                "top-1 agreement": st.column_config.NumberColumn(format="percent")})
    by_index = {r["index"]: r for r in records}
    chosen = st.selectbox("Compare outputs for prompt", list(by_index), key="drill_prompt",
                          format_func=lambda i: f"#{i} · {_effect(by_index[i])} · {by_index[i]['prompt'][:80]}")
    row = by_index[chosen]
    st.text(row["prompt"])
    if row.get("reference") is not None:
        st.caption("Expected answer")
        st.text(row["reference"])
    left, right = st.columns(2)
    with left:
        st.caption(f"Baseline ({record['plans'][0]['plan']})"
                   + {True: " · right", False: " · wrong"}.get(row.get("baseline_correct"), ""))
        st.text(row.get("baseline_output") or "(empty)")
    with right:
        st.caption(f"{dict(plans)[position]}" + {True: " · right", False: " · wrong"}.get(row.get("correct"), ""))
        st.text(row.get("output") or "(empty)")
