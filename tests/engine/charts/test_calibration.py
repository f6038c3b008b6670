"""The calibration check view pairs each plan's two calibrations and says which one helped."""

from engine.charts.calibration import calibration_chart, calibration_findings, calibration_pairs


def _plan(steps, kl, acc=None, top1=0.9):
    text = "+".join(s["name"] + (":" + ",".join(f"{k}={v}" for k, v in s["params"].items()) if s["params"] else "")
                    for s in steps)
    return {"plan": text, "status": "ok", "steps": steps,
            "accuracy": {"kl_divergence": kl, "task_accuracy": acc, "top1_agreement": top1}}


def _sq(calib):
    return [{"name": "smoothquant", "params": {"alpha": 0.5, "calib": calib}}, {"name": "w8a8", "params": {}}]


RECORD = {"plans": [
    _plan([{"name": "fp32", "params": {}}], 0.0, 0.5),
    _plan(_sq("texts"), 0.020, 0.44),
    _plan(_sq("prompts"), 0.015, 0.46),
    _plan([{"name": "mixed", "params": {"bits": 4, "keep": 2, "calib": "texts"}}], 0.30),
    _plan([{"name": "int8", "params": {}}], 0.004),
]}


def test_pairs_only_plans_with_both_calibrations():
    pairs = calibration_pairs(RECORD)
    assert [key for key, *_ in pairs] == ["smoothquant:alpha=0.5+w8a8"]
    assert pairs[0][1]["accuracy"]["kl_divergence"] == 0.020 and pairs[0][2]["accuracy"]["kl_divergence"] == 0.015


def test_chart_and_sentence_show_the_difference():
    fig = calibration_chart(RECORD)
    assert [t.name for t in fig.data] == ["generic texts", "your prompts"]
    assert list(fig.data[1].y) == [0.015]
    (finding,) = calibration_findings(RECORD)
    assert "helps" in finding and "(-25.0%)" in finding and "task accuracy 46.0% vs 44.0%" in finding


def test_no_pairs_no_chart():
    assert calibration_chart({"plans": RECORD["plans"][:2]}) is None
