"""New run page: defaults that work as they are, live plan validation, upload errors, and submission."""

import time

from tests.dashboard.helpers import texts

BAD_JSONL = b'{"prompt": "What is 2 + 2?", "reference": "4"}\n{"prompt": "unterminated\n'
GOOD_CSV = b"prompt,reference,category\nWhat is 3 + 4?,7,arithmetic\nName a primary colour.,red,colours\n"


def _jobs(queue):
    return queue.list_jobs()


def _prompt_sets(queue):
    with queue.connect() as db:
        return db.execute("SELECT COUNT(*) FROM prompt_sets").fetchone()[0]


def test_first_screen_works_with_no_input(app):
    at = app()
    assert texts(at, "title") == ["New run"]
    assert at.selectbox(key="model_source").value.startswith("Embedded SmolLM2")
    assert at.radio(key="plan_preset").value == "INT8 vs INT4"
    assert any("`fp32` → `gguf:type=q8_0` → `gguf:type=q4_k_m`" in m for m in texts(at, "markdown"))
    assert at.number_input(key="prompt_limit").value == 64
    assert any("Quick look: 64 of 320 prompts" in c for c in texts(at, "caption"))
    assert at.selectbox(key="hardware_cpu").value == "cpu-2vcpu"
    assert at.number_input(key="price_cpu-2vcpu").value == 0.096
    assert not at.error and not at.warning
    assert at.button(key="start_run").disabled is False
    assert any("Store" in c for c in texts(at.sidebar, "caption"))


def test_invalid_plan_names_the_step_and_nothing_is_submitted(app, queue):
    before = len(_jobs(queue))
    at = app()
    at.radio(key="plan_preset").set_value("Custom").run()
    at.text_area(key="custom_plans").set_value("int8\nint9:group=32").run()
    errors = texts(at, "error")
    assert any("line 2" in e and "unknown step 'int9'" in e for e in errors), errors
    at.text_area(key="custom_plans").set_value("int4:group=48").run()
    assert any("int4:group=48" in e and "group=48 is not one of" in e for e in texts(at, "error"))
    assert at.button(key="start_run").disabled is True  # a browser cannot press it either
    assert len(_jobs(queue)) == before


def test_plan_composer_adds_a_valid_plan(app):
    at = app()
    at.radio(key="plan_preset").set_value("Custom").run()
    at.selectbox(key="compose_dtype").set_value("bf16").run()
    at.multiselect(key="compose_steps").set_value(["int4"]).run()
    at.selectbox(key="compose_int4_group").set_value(32).run()
    at.button(key="compose_add").click().run()
    assert at.text_area(key="custom_plans").value.splitlines()[-1] == "bf16+int4:group=32"
    assert not at.error
    at.selectbox(key="compose_dtype").set_value("(none)").run()
    at.multiselect(key="compose_steps").set_value(["smoothquant", "w8a8"]).run()
    at.text_input(key="compose_smoothquant_alpha").set_value("0.7").run()
    at.button(key="compose_add").click().run()
    assert at.text_area(key="custom_plans").value.splitlines()[-1] == "smoothquant:alpha=0.7+w8a8"
    assert not at.error


def test_bad_upload_shows_the_line_and_stores_nothing(app, queue):
    jobs, sets = len(_jobs(queue)), _prompt_sets(queue)
    at = app()
    at.radio(key="prompt_source").set_value("Upload your own").run()
    at.file_uploader(key="prompt_upload").upload("mine.jsonl", BAD_JSONL, "application/jsonl").run()
    errors = texts(at, "error")
    assert any("mine.jsonl, line 2" in e and "bad JSON" in e and "Nothing was stored" in e for e in errors), errors
    assert at.button(key="start_run").disabled is True
    assert len(_jobs(queue)) == jobs and _prompt_sets(queue) == sets


def test_good_upload_is_previewed(app):
    at = app()
    at.radio(key="prompt_source").set_value("Upload your own").run()
    at.file_uploader(key="prompt_upload").upload("mine.csv", GOOD_CSV, "text/csv").run()
    assert not at.error
    assert [m.value for m in at.metric][:3] == ["2", "2", "2"]
    assert at.dataframe[0].value["prompt"].tolist() == ["What is 3 + 4?", "Name a primary colour."]


def test_calibrating_on_prompts_needs_a_share(app):
    at = app()
    at.selectbox(key="calibration_source").set_value("prompts").run()
    assert any("needs a calibration share above 0" in e for e in texts(at, "error"))
    assert at.button(key="start_run").disabled is True
    at.number_input(key="calibration_share").set_value(0.25).run()
    assert not at.error and at.button(key="start_run").disabled is False


def test_shape_model_skips_prompts(app):
    at = app()
    at.selectbox(key="model_source").set_value("Shape only (random weights, any size)").run()
    assert any("accuracy is not applicable" in i for i in texts(at, "info"))
    assert at.button(key="start_run").disabled is False


def test_start_queues_one_job_and_opens_the_run_page(app, queue, reap_workers):
    before = {j["job_id"] for j in _jobs(queue)}
    at = app()
    at.selectbox(key="model_source").set_value("Shape only (random weights, any size)").run()
    at.number_input(key="decode_steps").set_value(1).run()
    at.number_input(key="repeats").set_value(1).run()
    at.selectbox(key="decode_path").set_value("both").run()
    at.button(key="start_run").click().run()
    new = [j for j in _jobs(queue) if j["job_id"] not in before]
    assert len(new) == 1
    job = new[0]
    assert job["spec"]["model"] == "shape:smollm2-135m"
    assert job["spec"]["plans"] == ["fp32", "gguf:type=q8_0", "gguf:type=q4_k_m"]  # the CPU preset: llama.cpp files
    assert job["spec"]["settings"]["decode_steps"] == 1 and job["spec"]["prompts"] is None
    assert job["spec"]["settings"]["decode_path"] == "both" and job["spec"]["settings"]["max_tpot_ms"] == 100.0
    assert at.query_params.get("job") == job["job_id"]
    assert texts(at, "title") == ["Run: shape:smollm2-135m"]
    queue.request_cancel(job["job_id"])
    deadline = time.time() + 120
    while queue.get_job(job["job_id"])["status"] in ("queued", "running") and time.time() < deadline:
        time.sleep(0.5)
    assert queue.get_job(job["job_id"])["status"] == "cancelled"
