"""The evaluate metric modules, against hand computations."""

import math

import pytest

from engine.evaluation.metric_modules import compute, load_metric


def test_task_accuracy_normalises_and_accepts_a_chatty_first_sentence():
    out = compute("task_accuracy",
                  predictions=["Paris.", "The answer is 12. Also 13", "blue", "I think it is red", "B"],
                  references=["paris", "12", "The Blue", "blue", "b"],
                  exact=[0, 0, 0, 0, 1])
    assert out["correct"] == [True, True, True, False, True]
    assert out["task_accuracy"] == pytest.approx(4 / 5)


def test_multiple_choice_needs_the_exact_choice():
    out = compute("task_accuracy", predictions=["a cow"], references=["cow"], exact=[1])
    assert out["correct"] == [True]  # articles are normalised away
    assert compute("task_accuracy", predictions=["dog"], references=["cow"], exact=[1])["correct"] == [False]


def test_perplexity_kl_top1_generation_by_hand():
    nll = [0.5, 1.0, 1.5]
    assert compute("perplexity", predictions=nll)["perplexity"] == pytest.approx(math.exp(1.0))
    assert compute("kl_divergence", predictions=[0.0, 0.2, 0.1])["kl_divergence"] == pytest.approx(0.1)
    assert compute("top1_agreement", predictions=[1, 2, 3, 4], references=[1, 2, 0, 4])["top1_agreement"] == 0.75
    same = compute("generation_agreement", predictions=["1 2", "3"], references=["1 2", "4"])
    assert same["generation_agreement"] == 0.5 and same["same"] == [True, False]


def test_a_user_metric_loads_from_a_local_folder(tmp_path):
    folder = tmp_path / "answer_length"
    folder.mkdir()
    (folder / "answer_length.py").write_text(
        "import datasets\nimport evaluate\n\n\n"
        "class AnswerLength(evaluate.Metric):\n"
        "    def _info(self):\n"
        "        return evaluate.MetricInfo(description='', citation='', inputs_description='',\n"
        "            features=datasets.Features({'predictions': datasets.Value('string')}))\n\n"
        "    def _compute(self, predictions):\n"
        "        return {'mean_chars': sum(map(len, predictions)) / len(predictions)}\n")
    assert load_metric(str(folder)).compute(predictions=["ab", "abcd"]) == {"mean_chars": 3.0}
