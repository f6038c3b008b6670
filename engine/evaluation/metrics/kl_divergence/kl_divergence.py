"""KL divergence: mean over token positions of KL(baseline || plan), in nats."""

import datasets
import evaluate


class KLDivergence(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description="Mean per-position KL(baseline || plan) in nats, teacher forced on the same inputs.",
            citation="",
            inputs_description="predictions: KL(baseline || plan) at each position",
            features=datasets.Features({"predictions": datasets.Value("float64")}),
        )

    def _compute(self, predictions):
        if not predictions:
            return {"kl_divergence": None}
        return {"kl_divergence": sum(predictions) / len(predictions)}
