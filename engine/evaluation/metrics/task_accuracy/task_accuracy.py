"""Task accuracy: share of answers that match the reference after normalisation.

Normalised exact match in the SQuAD tradition (lower case, no punctuation, no articles,
single spaces), with one allowance for chatty models: the answer also counts when the
normalised reference appears as a whole-word phrase in the answer's first sentence.
Multiple-choice answers arrive as the chosen choice's text and must match exactly.
"""

import re
import string

import datasets
import evaluate

_ARTICLES = re.compile(r"\b(a|an|the)\b")


def normalise(text: str) -> str:
    text = text.lower()
    text = "".join(ch for ch in text if ch not in set(string.punctuation))
    text = _ARTICLES.sub(" ", text)
    return " ".join(text.split())


def first_sentence(text: str) -> str:
    return re.split(r"(?<=[.!?])\s|\n", text.strip(), maxsplit=1)[0]


def is_correct(prediction: str, reference: str, exact: bool) -> bool:
    pred, ref = normalise(prediction), normalise(reference)
    if exact or not ref:
        return pred == ref
    return pred == ref or f" {ref} " in f" {normalise(first_sentence(prediction))} "


class TaskAccuracy(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description="Share of answers matching the reference (normalised exact match).",
            citation="Rajpurkar et al., SQuAD (2016), answer normalisation.",
            inputs_description="predictions: answers; references: expected answers; exact: 1 for multiple choice",
            features=datasets.Features({
                "predictions": datasets.Value("string"),
                "references": datasets.Value("string"),
                "exact": datasets.Value("int8"),
            }),
        )

    def _compute(self, predictions, references, exact):
        correct = [is_correct(p, r, bool(e)) for p, r, e in zip(predictions, references, exact)]
        return {"task_accuracy": sum(correct) / len(correct) if correct else None, "correct": correct}
