"""Named subsets of a prompt set, so a plan's damage can be located.

- numbers: prompts containing a digit;
- rare_words: prompts with a word in the tokenizer's bottom frequency band. A BPE vocabulary
  is built by merging the most frequent pairs first, so the last fifth of the ids (the latest
  merges) are its least frequent tokens, and a word it must split into three or more pieces
  was too rare to earn a token of its own;
- category:NAME for every category in the file.
"""

from __future__ import annotations

import re

from engine.evaluation.prompts import PromptSet

RARE_BAND = 0.8  # ids at or above this share of the vocabulary count as rare
RARE_PIECES = 3  # a word split into this many tokens or more counts as rare


def rare_token_floor(tokenizer) -> int:
    return int(len(tokenizer) * RARE_BAND)


def _has_rare_word(prompt: str, tokenizer, floor: int, special: set) -> bool:
    for word in re.findall(r"[A-Za-z]{4,}", prompt):
        ids = tokenizer(" " + word, add_special_tokens=False).input_ids
        if len(ids) >= RARE_PIECES or any(t >= floor and t not in special for t in ids):
            return True
    return False


def slice_members(prompts: PromptSet, tokenizer) -> dict[str, list[int]]:
    floor = rare_token_floor(tokenizer)
    special = set(tokenizer.all_special_ids)
    slices: dict[str, list[int]] = {"numbers": [], "rare_words": []}
    for i, item in enumerate(prompts.items):
        if re.search(r"\d", item.prompt):
            slices["numbers"].append(i)
        if _has_rare_word(item.prompt, tokenizer, floor, special):
            slices["rare_words"].append(i)
        if item.category:
            slices.setdefault(f"category:{item.category}", []).append(i)
    return {name: members for name, members in slices.items() if members}
