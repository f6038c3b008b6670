"""Top-1 agreement: share of positions where the plan and the baseline pick the same next token."""

import datasets
import evaluate


class Top1Agreement(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description="Share of teacher-forced positions where both models' argmax tokens agree.",
            citation="",
            inputs_description="predictions: plan argmax token ids; references: baseline argmax token ids",
            features=datasets.Features({"predictions": datasets.Value("int64"),
                                        "references": datasets.Value("int64")}),
        )

    def _compute(self, predictions, references):
        if not predictions:
            return {"top1_agreement": None}
        return {"top1_agreement": sum(p == r for p, r in zip(predictions, references)) / len(predictions)}
