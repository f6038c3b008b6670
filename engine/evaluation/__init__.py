"""Accuracy on the user's own prompts: prompt sets, metrics, slices, verdicts."""
