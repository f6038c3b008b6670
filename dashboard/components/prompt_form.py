"""The prompts part of the new-run form: the sample set or an upload, a preview, clear validation
errors (nothing is stored from a bad file), and the quick-look size of a first run."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from dashboard.components import services
from dashboard.components.forms import Choice
from engine.reports.mdtext import text as inert

QUICK_LOOK = 64  # prompts: the PM preset on the sample set finishes in a few minutes on a 2-core CPU


def spread(prompt_set, n: int):
    """n prompts spread evenly over the set (files are often sorted by category), original indices kept."""
    from engine.evaluation.prompts import PromptSet

    total = len(prompt_set)
    if n >= total:
        return prompt_set
    picks = sorted({round(i * total / n) for i in range(n)})
    return PromptSet.of(f"{prompt_set.name} ({len(picks)} of {total}, spread)", [prompt_set.items[i] for i in picks])


def preview(prompt_set, rows: int = 12) -> None:
    items = prompt_set.items
    categories = sorted({i.category for i in items if i.category})
    answered = sum(1 for i in items if i.reference is not None or i.choices)
    cols = st.columns(3)
    cols[0].metric("Prompts", f"{len(items):,}")
    cols[1].metric("With an expected answer", f"{answered:,}")
    cols[2].metric("Categories", len(categories))
    frame = pd.DataFrame([{"#": i.index, "prompt": i.prompt, "reference": i.reference,
                           "choices": " | ".join(i.choices) if i.choices else None, "category": i.category}
                          for i in items[:rows]])
    st.dataframe(frame, hide_index=True, width="stretch", height=min(38 + 35 * len(frame), 320))
    if len(items) > rows:
        st.caption(f"First {rows} of {len(items):,} prompts. Categories: {inert(', '.join(categories)) or 'none'}.")


def prompt_picker(accuracy_applicable: bool) -> Choice:
    """The PromptSet to evaluate (already cut to the quick-look size), or None with errors."""
    if not accuracy_applicable:
        st.info("A shape-only model has random weights: accuracy is not applicable and no prompts are used.")
        return Choice(None)
    source = st.radio("Prompts", ["Sample prompts (sample_data/prompts.jsonl)", "Upload your own"], horizontal=True,
                      key="prompt_source")
    if source.startswith("Sample"):
        prompt_set = services.sample_prompts()
    else:
        upload = st.file_uploader("Prompt file: .jsonl, .csv or .txt", type=["jsonl", "json", "csv", "txt"],
                                  key="prompt_upload",
                                  help="Columns/keys: prompt (required), reference (expected answer), choices "
                                       "(a list, for multiple choice), category (a slice label). Max 20 MB.")
        if upload is None:
            return Choice(None, todo=["Upload a prompt file, or pick the sample prompts."])
        from engine.evaluation.prompts import PromptFileError

        try:
            prompt_set = services.parse_prompt_file(upload.getvalue(), upload.name)
        except PromptFileError as error:
            # the message quotes the file's name and its text: shown as written, never as Markdown
            return Choice(None, [f"This file cannot be used: {inert(error)}. Nothing was stored."])
    preview(prompt_set)
    every = st.checkbox("Evaluate every prompt", key="all_prompts", value=False)
    count = len(prompt_set)
    limit = count
    if not every:
        limit = st.number_input("Prompts to evaluate (quick look)", min_value=1, max_value=count,
                                value=min(QUICK_LOOK, count), step=8, key="prompt_limit")
        st.caption(f"Quick look: {limit} of {count:,} prompts, spread evenly over the file so every category "
                   f"shows. {QUICK_LOOK} keeps a first run of the INT8 vs INT4 preset on the sample prompts to a "
                   "few minutes on a 2-core CPU; tick the box above for the full set.")
    return Choice(spread(prompt_set, int(limit)))
