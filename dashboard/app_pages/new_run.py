"""New run: model (or several, as a sweep), plans, prompts and price assumptions in, one queued job out."""

import uuid

import streamlit as st

from dashboard.components import forms, prompt_form, services, settings_form
from engine.reports.mdtext import text as inert

st.title("New run")
st.caption("How much smaller, faster and cheaper does the model get under each plan, and what accuracy does it "
           "cost on your prompts? Everything below starts with working defaults: press Start to try it.")

st.subheader("1. Model")
sweep = st.toggle("Compare several models (a sweep)", key="sweep_mode",
                  help="Every plan on every model, each model against its own baseline: one grid of cells on the "
                       "Sweeps page, with the Pareto front across all of them.")
left, right = st.columns([3, 1])
with left:
    model = forms.models_picker() if sweep else forms.model_picker()
devices = services.devices()
device = right.selectbox("Run on", devices, index=len(devices) - 1, key="device",
                         help="Where the worker compresses and measures. cuda is offered when a GPU is present.")
model.show()
chosen = model.value if sweep else [model.value]
applicable = not chosen or any(not str(m or "").startswith("shape:") for m in chosen)

st.subheader("2. Plans")
plans = forms.plan_builder(device)
if plans.value:
    st.markdown("Will run, in order: " + " → ".join(f"`{p}`" for p in plans.value))
plans.show()

st.subheader("3. Prompts")
prompts = prompt_form.prompt_picker(applicable)
prompts.show()

st.subheader("4. Cost and verdict")
scored = sum(item.reference is not None for item in prompts.value.items) if prompts.value is not None else None
settings = settings_form.run_settings(device, scored)
settings.show()

st.divider()
problems = model.blocking + plans.blocking + prompts.blocking + settings.blocking
token = st.session_state.setdefault("submit_token", uuid.uuid4().hex)  # one job per submission
if problems:
    st.warning("Before the run can start: " + "; ".join(problems))
label, key = ("Start sweep", "start_sweep") if sweep else ("Start run", "start_run")
if st.button(label, type="primary", disabled=bool(problems), key=key, icon=":material/play_arrow:"):
    spec = {"models" if sweep else "model": model.value, "plans": plans.value, "settings": settings.value,
            "prompts": prompts.value.to_dict() if prompts.value is not None else None}
    queue = services.queue()
    try:
        job_id = queue.submit(spec, token)
    except ValueError as error:  # JobError, PlanError, PromptSet problems: said plainly, nothing queued
        st.error(f"The run was not queued: {inert(error)}")
        st.stop()
    queue.ensure_worker(device)
    st.session_state["submit_token"] = uuid.uuid4().hex
    st.switch_page("app_pages/sweeps.py" if sweep else "app_pages/run.py", query_params={"job": job_id})
