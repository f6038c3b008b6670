"""Perplexity: exp of the mean negative log-likelihood of the evaluation tokens."""

import math

import datasets
import evaluate


class Perplexity(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description="exp(mean NLL) over the evaluation tokens (references given their prompts).",
            citation="",
            inputs_description="predictions: negative log-likelihood of each reference token, in nats",
            features=datasets.Features({"predictions": datasets.Value("float64")}),
        )

    def _compute(self, predictions):
        if not predictions:
            return {"perplexity": None}
        mean = sum(predictions) / len(predictions)
        return {"perplexity": math.exp(mean) if mean < 700 else math.inf}
