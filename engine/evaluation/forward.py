"""The forward passes behind every prompt metric, each done once per plan:

- `generate`: batched greedy continuations (left padding, prompts sorted by length);
- `score`: teacher-forced passes over prompt + continuation, handing each sequence's
  next-token log-probabilities at the continuation positions to a callback.
"""

from __future__ import annotations

import torch


def chat_prompt_ids(tokenizer, prompt: str) -> list[int]:
    """The prompt as the model sees it in deployment: through its chat template if it has one."""
    if getattr(tokenizer, "chat_template", None):
        text = tokenizer.apply_chat_template([{"role": "user", "content": prompt}], tokenize=False,
                                             add_generation_prompt=True)
        return tokenizer(text, add_special_tokens=False).input_ids
    return tokenizer(prompt).input_ids


def _pad_id(tokenizer) -> int:
    return tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id


def _batches(order: list[int], size: int):
    for start in range(0, len(order), size):
        yield order[start : start + size]


@torch.no_grad()  # not inference_mode: quanto tensors cannot run under it
def generate(model, tokenizer, prompts: list[list[int]], max_new_tokens: int, device: str,
             batch_size: int = 16, progress=None) -> list[list[int]]:
    """Greedy continuations (token ids, cut at end of sequence) for every prompt."""
    pad = _pad_id(tokenizer)
    order = sorted(range(len(prompts)), key=lambda i: len(prompts[i]))
    outputs: list[list[int]] = [[] for _ in prompts]
    done = 0
    for batch in _batches(order, batch_size):
        width = max(len(prompts[i]) for i in batch)
        ids = torch.full((len(batch), width), pad, dtype=torch.long)
        mask = torch.zeros((len(batch), width), dtype=torch.long)
        for row, i in enumerate(batch):
            ids[row, width - len(prompts[i]):] = torch.tensor(prompts[i])
            mask[row, width - len(prompts[i]):] = 1
        out = model.generate(input_ids=ids.to(device), attention_mask=mask.to(device), do_sample=False,
                             max_new_tokens=max_new_tokens, pad_token_id=pad, temperature=None, top_p=None,
                             top_k=None)
        for row, i in enumerate(batch):
            tokens = out[row, width:].tolist()
            if tokenizer.eos_token_id in tokens:
                tokens = tokens[: tokens.index(tokenizer.eos_token_id)]
            outputs[i] = tokens
        done += len(batch)
        if progress:
            progress(done, len(prompts))
    return outputs


@torch.no_grad()  # not inference_mode: quanto tensors cannot run under it
def score(model, sequences: list[tuple[list[int], list[int]]], device: str, on_rows, pad_id: int,
          batch_size: int = 16, progress=None) -> None:
    """Teacher-forced pass: `on_rows(k, logp)` gets, for sequence k = (prompt, continuation),
    the float32 log-softmax rows that predict each continuation token ([len(continuation), vocab])."""
    order = sorted(range(len(sequences)), key=lambda k: -sum(map(len, sequences[k])))
    done = 0
    for batch in _batches(order, batch_size):
        width = max(len(sequences[k][0]) + len(sequences[k][1]) for k in batch)
        ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
        mask = torch.zeros((len(batch), width), dtype=torch.long)
        for row, k in enumerate(batch):
            full = sequences[k][0] + sequences[k][1]
            ids[row, : len(full)] = torch.tensor(full)
            mask[row, : len(full)] = 1
        logits = model(input_ids=ids.to(device), attention_mask=mask.to(device)).logits
        for row, k in enumerate(batch):
            start, length = len(sequences[k][0]), len(sequences[k][1])
            rows = logits[row, start - 1 : start - 1 + length].float()
            on_rows(k, torch.log_softmax(rows, dim=-1).cpu())
        done += len(batch)
        if progress:
            progress(done, len(sequences))
