"""Generation agreement: share of prompts whose greedy continuation equals the baseline's."""

import datasets
import evaluate


class GenerationAgreement(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description="Share of prompts whose first N greedy tokens equal the baseline's.",
            citation="",
            inputs_description="predictions: plan continuation token ids joined by spaces; references: baseline's",
            features=datasets.Features({"predictions": datasets.Value("string"),
                                        "references": datasets.Value("string")}),
        )

    def _compute(self, predictions, references):
        same = [p == r for p, r in zip(predictions, references)]
        return {"generation_agreement": sum(same) / len(same) if same else None, "same": same}
