"""New-run form parts: the model picker (several models for a sweep) and the plan builder (presets plus free
composition), each returning what it chose and the problems the user must fix before a run can start."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import streamlit as st

from dashboard.components import services
from engine.reports.mdtext import text as inert

PRESET_LABELS = {"INT8 vs INT4": "pm-int8-vs-int4", "All weight-only": "all-weights", "Custom": None}
SOURCES = {
    "Embedded SmolLM2-135M-Instruct (default)": "embedded",
    "Shape only (random weights, any size)": "shape",
    "Local Hugging Face folder": "folder",
    "GGUF file": "gguf",
    "Model in the local Hugging Face cache": "hf",
}
DEFAULT_CUSTOM = "int8\nint4:group=32\nint4:group=64"


@dataclass
class Choice:
    value: object = None
    errors: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    todo: list[str] = field(default_factory=list)  # not wrong, just not done yet (e.g. no file uploaded)

    def show(self) -> None:
        """Problems as errors, missing input as info, implications as captions; user text is never HTML."""
        for error in self.errors:
            st.error(error, icon=":material/error:")
        for todo in self.todo:
            st.info(todo)
        for note in self.notes:
            st.caption(note)

    @property
    def blocking(self) -> list[str]:
        return self.errors + self.todo


@st.cache_data(ttl=30, show_spinner=False)
def _cached_model_problem(model_id: str) -> str | None:
    from huggingface_hub import snapshot_download

    try:
        snapshot_download(model_id, local_files_only=True)
    except Exception:  # nothing may be downloaded here: only the local cache counts
        return f"'{model_id}' is not in the local Hugging Face cache (nothing is downloaded)"
    return None


def _path_problem(kind: str, text: str) -> str | None:
    if not text.strip():
        return "give a path"
    path = Path(text.strip()).expanduser()
    if kind == "gguf":
        return None if path.is_file() and path.suffix.lower() == ".gguf" else f"no .gguf file at {path}"
    if not path.is_dir():
        return f"no folder at {path}"
    return None if any(path.glob("*.safetensors")) else f"no .safetensors weights in {path}"


def model_picker() -> Choice:
    """The model spec for engine.models.load_model; notes say what the choice implies."""
    label = st.selectbox("Model", list(SOURCES), key="model_source",
                         help="Nothing is downloaded: every model comes from this machine.")
    kind = SOURCES[label]
    if kind == "embedded":
        return Choice("smollm2-135m", notes=["SmolLM2-135M-Instruct ships with the tool. Its float weights were "
                                             "4-bit (Q4_1, groups of 32) once, so int4 with groups of 32 can look "
                                             "nearly lossless by construction."])
    if kind == "shape":
        sizes = services.shapes()
        shape = st.selectbox("Architecture", list(sizes), key="model_shape",
                             format_func=lambda s: f"{s} ({sizes[s] / 1e9:.2f} B parameters)")
        return Choice(f"shape:{shape}", notes=["Random weights: size, speed, memory and cost only. Accuracy is not "
                                               "applicable, so your prompts are not used."])
    if kind == "hf":
        model_id = st.text_input("Model id", key="model_hf", placeholder="HuggingFaceTB/SmolLM2-360M-Instruct")
        problem = "give a model id" if not model_id.strip() else _cached_model_problem(model_id.strip())
        return Choice(model_id.strip(), [problem] if problem else [])
    path = st.text_input("Path on this machine", key=f"model_{kind}",
                         placeholder="/models/my-model" if kind == "folder" else "/models/my-model.Q4_K_M.gguf")
    problem = _path_problem(kind, path)
    notes = ["Safetensors only; remote code is never run."] if kind == "folder" else [
        "Dequantized to float once and cached; its float weights were low-bit once."]
    return Choice(str(Path(path.strip()).expanduser()) if not problem else None, [problem] if problem else [], notes)


@st.cache_data(ttl=30, show_spinner=False)
def _model_problem(spec: str) -> str | None:
    """Why a model spec could not load, found without loading it (engine.models.check_spec), or None."""
    from engine.models import ModelError, check_spec

    try:
        check_spec(spec)
    except ModelError as error:
        return str(error)
    return None


def models_picker() -> Choice:
    """Several model specs for a sweep: the embedded model and shapes from a list, any other (a folder, a GGUF file,
    a model in the local Hugging Face cache) typed one per line; each checked as the job queue will check it."""
    sizes = services.shapes()
    listed = {"smollm2-135m": "SmolLM2-135M-Instruct (embedded)",
              **{f"shape:{s}": f"shape:{s} ({n / 1e9:.2f} B parameters, random weights)" for s, n in sizes.items()}}
    picked = st.multiselect("Models", list(listed), default=["smollm2-135m", "shape:smollm2-135m"],
                            format_func=listed.get, key="sweep_models",
                            help="Every plan runs on every model; each model is compared with its own baseline.")
    typed = st.text_area("Other models, one per line", key="sweep_more_models", height=80,
                         placeholder="/models/my-model\n/models/my-model.Q4_K_M.gguf\nHuggingFaceTB/SmolLM2-360M-Instruct",
                         help="A local Hugging Face folder (safetensors), a GGUF file, or a model id already in the "
                              "local Hugging Face cache. Nothing is downloaded.")
    models = list(dict.fromkeys(picked + [line.strip() for line in typed.splitlines() if line.strip()]))
    errors = [f"Model {inert(m, 120)}: {inert(problem)}" for m in models if (problem := _model_problem(m))]
    todo = [] if len(models) >= 2 else ["pick two or more models for a sweep (one model is a plain run: switch "
                                        "the sweep off)"]
    notes = ["Each (model, plan) cell runs in a Ray task started by the worker, one at a time on this machine's "
             "cores so no cell times another; the Sweeps page fills in as cells land."]
    if any(m.startswith("shape:") for m in models):
        notes.append("Shapes have random weights: size, speed and cost only; their accuracy reads n/a.")
    return Choice(models if not errors else None, errors, notes, todo)


def _add_composed(text: str) -> None:
    """Callback: append the composed plan to the custom list (widget state may only change here)."""
    current = st.session_state.get("custom_plans", "").rstrip()
    st.session_state["custom_plans"] = f"{current}\n{text}" if current else text


def _param_widget(step: str, key: str, param: dict):
    """A choice list when the step declares one, else a text box (empty keeps the default)."""
    label = f"{step} {key}" + (f": {param['doc']}" if param["doc"] else "")
    if param["choices"]:
        options = list(param["choices"])
        index = options.index(param["default"]) if param["default"] in options else 0
        return st.selectbox(label, options, index=index, key=f"compose_{step}_{key}")
    text = st.text_input(label, key=f"compose_{step}_{key}", placeholder=f"default: {param['default']}")
    return text.strip() or param["default"]


def composed_step(name: str, values: dict, params: dict) -> str:
    """`name:k=v,...` with only the parameters that differ from their defaults."""
    changed = [f"{k}={v}" for k, v in values.items() if v is not None and str(v) != str(params[k]["default"])]
    return name + (":" + ",".join(changed) if changed else "")


def _composer() -> None:
    catalogue = services.steps()
    baselines = [n for n, s in catalogue.items() if s["kind"] == "baseline"]
    others = [n for n, s in catalogue.items() if s["kind"] != "baseline"]
    left, right = st.columns([1, 3])
    dtype = left.selectbox("Dtype first", ["(none)"] + baselines, key="compose_dtype",
                           help="Cast the weights before compressing, e.g. bf16+int4.")
    chosen = right.multiselect("Steps, in the order they apply", others, default=["int4"], key="compose_steps",
                               help="\n\n".join(f"**{n}** ({catalogue[n]['kind']}): {catalogue[n]['doc']}"
                                                 for n in others))
    parts = [] if dtype == "(none)" else [dtype]
    for name in chosen:
        params = catalogue[name]["params"]
        st.caption(f"{name}: {catalogue[name]['doc']}")
        values = {}
        if params:
            cols = st.columns(min(len(params), 4))
            for i, (key, param) in enumerate(params.items()):
                with cols[i % len(cols)]:
                    values[key] = _param_widget(name, key, param)
        parts.append(composed_step(name, values, params))
    text = "+".join(parts)
    if text:
        st.button(f"Add {text} to the plans", key="compose_add", on_click=_add_composed, args=(text,))


def plan_builder(device: str) -> Choice:
    """The plans to run (baseline first); every line is parsed and validated once, as it is typed."""
    from engine.plan import PlanError, parse
    from engine.settings import RunError, plans_for

    label = st.radio("Plans", list(PRESET_LABELS), horizontal=True, key="plan_preset",
                     help="Presets for a quick comparison; Custom to compose your own steps.")
    preset = PRESET_LABELS[label]
    errors: list[str] = []
    if preset:
        chosen = services.presets(device)[preset]
    else:
        if "custom_plans" not in st.session_state:
            st.session_state["custom_plans"] = DEFAULT_CUSTOM
        raw = st.text_area("One plan per line: steps joined by +, parameters after a colon", key="custom_plans",
                           height=120, help="Examples: int8, int8:backend=bnb, int4:group=32, bf16+int4, nf4, "
                                            "smoothquant+w8a8, distill:keep=0.5+int4. A first line that only "
                                            "sets a dtype (fp32, bf16) is the baseline.")
        texts = [line.strip() for line in raw.splitlines() if line.strip()]
        chosen = []
        for number, text in enumerate(texts, 1):
            try:
                chosen.append(parse(text))
            except PlanError as error:
                errors.append(f"Plan on line {number} ('{text}'): {error}")
        with st.expander("Compose a plan from steps"):
            _composer()
    if errors:
        return Choice(None, errors)
    try:
        plans = plans_for(chosen, None, device)
    except (PlanError, RunError) as error:
        return Choice(None, [str(error)])
    notes = []
    if len(plans) > len(chosen):
        notes.append(f"Baseline {plans[0]} is added first on the {device}; every delta is measured against it.")
    return Choice([str(p) for p in plans], notes=notes)
