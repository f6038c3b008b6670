"""Accuracy on the user's prompts for each plan of a run: overall figures, slices, per-prompt records."""

from __future__ import annotations

from engine.cost import Traffic
from engine.evaluation.prompts import PromptSet
from engine.evaluation.scoring import PromptEvaluator
from engine.evaluation.slices import slice_members
from engine.evaluation.summary import answer, changes, correctness, figures, with_deltas

# Perplexity over a few dozen answer tokens moves by several percent between plans that agree (+3.6% for a
# Q8_0 file on the 40 reference tokens of 64 sample prompts, +0.8% on 2,040 evaluation-text tokens): below
# this many reference tokens a run measures perplexity on the evaluation texts instead, and says so.
MIN_REFERENCE_TOKENS = 1000


class PromptAccuracy:
    def __init__(self, tokenizer, prompts: PromptSet, device: str, max_new_tokens: int = 16,
                 batch_size: int = 16, progress=None):
        self.prompts = prompts
        self.evaluator = PromptEvaluator(tokenizer, prompts, device, max_new_tokens, batch_size, progress)
        self.slices = slice_members(prompts, tokenizer)
        self.everyone = list(range(len(prompts)))
        self.base_figures: dict | None = None
        self.base_slices: dict[str, dict] = {}
        self.base_correct: dict[int, bool] = {}

    @property
    def has_references(self) -> bool:
        return self.prompts.has_references

    def traffic(self) -> Traffic:
        """The set's query lengths: prompts as the model sees them, answers from the references where
        present, else the generation budget."""
        ev = self.evaluator
        answers = [len(ev.encode_answer(item.reference)) if item.reference is not None else ev.max_new_tokens
                   for item in self.prompts.items]
        return Traffic.of([len(ids) for ids in ev.prompt_ids], answers)

    @property
    def reference_tokens(self) -> int:
        return self.evaluator.reference_tokens

    @property
    def perplexity_from_references(self) -> bool:
        return self.reference_tokens >= MIN_REFERENCE_TOKENS

    def baseline_state(self) -> dict:
        """The baseline's answers and figures, for plans scored by another process (a sweep's cells)."""
        ev = self.evaluator
        return {"outcomes": ev.baseline, "rows": ev.base_rows, "figures": self.base_figures,
                "slices": self.base_slices, "correct": self.base_correct}

    def adopt_baseline(self, state: dict) -> None:
        self.evaluator.baseline, self.evaluator.base_rows = state["outcomes"], state["rows"]
        self.base_figures, self.base_slices, self.base_correct = state["figures"], state["slices"], state["correct"]

    def measure(self, model) -> tuple[dict, dict, list[dict]]:
        """(accuracy figures with deltas, {slice: figures with deltas}, per-prompt records)."""
        is_baseline = self.evaluator.baseline is None
        outcomes = self.evaluator.evaluate(model)
        baseline, rows = self.evaluator.baseline, self.evaluator.base_rows
        correct = correctness(self.prompts, outcomes)
        overall = figures(self.everyone, outcomes, baseline, rows, correct)
        per_slice = {name: figures(members, outcomes, baseline, rows, correct)
                     for name, members in self.slices.items()}
        if is_baseline:
            self.base_figures, self.base_slices, self.base_correct = overall, per_slice, correct
        overall = with_deltas(overall, self.base_figures)
        overall["changes"] = changes(self.everyone, outcomes, baseline, rows, correct, self.base_correct)
        per_slice = {name: with_deltas(f, self.base_slices[name]) for name, f in per_slice.items()}
        records = []
        for i, (item, outcome) in enumerate(zip(self.prompts.items, outcomes)):
            kl = sum(outcome.kl) / len(outcome.kl) if outcome.kl else None
            base_picks = rows[i].argmax.tolist()
            top1 = sum(a == b for a, b in zip(outcome.argmax, base_picks)) / len(base_picks) if base_picks else None
            records.append({
                "index": item.index, "prompt": item.prompt, "category": item.category,
                "reference": item.reference, "baseline_output": answer(item, baseline[i]),
                "output": answer(item, outcome), "correct": correct.get(i),
                "baseline_correct": self.base_correct.get(i), "kl": kl, "top1_agreement": top1,
                "same_generation": outcome.output_tokens == baseline[i].output_tokens,
            })
        return overall, per_slice, records
