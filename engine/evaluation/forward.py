"""The forward passes behind every prompt metric, each done once per plan:

- `generate`: batched greedy continuations (prompts sorted by length);
- `score`: teacher-forced passes over prompt + continuation, handing each sequence's
  next-token log-probabilities at the continuation positions to a callback.

Chat-templated prompts share a long common prefix (the template's system turn). It is run
once per model and its KV cache reused by every batch, so no forward pass repeats it; rows
are laid out as [prefix][padding][rest], with the padding masked and positions taken from
the mask.
"""

from __future__ import annotations

import copy

import torch


def chat_prompt_ids(tokenizer, prompt: str) -> list[int]:
    """The prompt as the model sees it in deployment: through its chat template if it has one."""
    if getattr(tokenizer, "chat_template", None):
        text = tokenizer.apply_chat_template([{"role": "user", "content": prompt}], tokenize=False,
                                             add_generation_prompt=True)
        return tokenizer(text, add_special_tokens=False).input_ids
    return tokenizer(prompt).input_ids


def pad_id(tokenizer) -> int:
    return tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id


def shared_prefix_length(prompts: list[list[int]]) -> int:
    """Tokens every prompt starts with (leaving each at least one token of its own)."""
    if not prompts:
        return 0
    first, length = prompts[0], min(len(p) for p in prompts) - 1
    for prompt in prompts[1:]:
        k = 0
        while k < length and prompt[k] == first[k]:
            k += 1
        length = k
    return max(length, 0)


class PrefixCache:
    """The KV cache of the shared prefix, computed once per model and copied per batch."""

    def __init__(self, model, prefix: list[int], device: str):
        self.prefix = prefix
        self.cache = None
        if prefix:
            with torch.no_grad():
                self.cache = model(input_ids=torch.tensor([prefix], device=device), use_cache=True).past_key_values

    def for_batch(self, size: int):
        if self.cache is None:
            return None
        cache = copy.deepcopy(self.cache)
        cache.batch_repeat_interleave(size)
        return cache


def _batches(order: list[int], size: int):
    for start in range(0, len(order), size):
        yield order[start : start + size]


def _layout(rests: list[list[int]], prefix_len: int, pad: int):
    """Rows of [padding][rest] and the attention mask over [prefix][padding][rest]."""
    width = max(len(r) for r in rests)
    ids = torch.full((len(rests), width), pad, dtype=torch.long)
    mask = torch.zeros((len(rests), prefix_len + width), dtype=torch.long)
    mask[:, :prefix_len] = 1
    for row, rest in enumerate(rests):
        ids[row, width - len(rest):] = torch.tensor(rest)
        mask[row, prefix_len + width - len(rest):] = 1
    return ids, mask


@torch.no_grad()  # not inference_mode: quanto tensors cannot run under it
def generate(model, tokenizer, prompts: list[list[int]], max_new_tokens: int, device: str,
             batch_size: int = 16, progress=None) -> list[list[int]]:
    """Greedy continuations (token ids, cut at end of sequence) for every prompt."""
    if not isinstance(model, torch.nn.Module):  # another runtime (llama.cpp): its parallel streams
        return model.greedy_many(prompts, max_new_tokens, tokenizer.eos_token_id, min(batch_size, 64), progress)
    pad = pad_id(tokenizer)
    p = shared_prefix_length(prompts)
    prefix = PrefixCache(model, prompts[0][:p] if p else [], device)
    order = sorted(range(len(prompts)), key=lambda i: len(prompts[i]))
    outputs: list[list[int]] = [[] for _ in prompts]
    done = 0
    for batch in _batches(order, batch_size):
        rests, mask = _layout([prompts[i][p:] for i in batch], p, pad)
        ids = torch.cat([torch.tensor([prefix.prefix] * len(batch), dtype=torch.long).reshape(len(batch), p), rests],
                        dim=1)
        out = model.generate(input_ids=ids.to(device), attention_mask=mask.to(device), do_sample=False,
                             past_key_values=prefix.for_batch(len(batch)), max_new_tokens=max_new_tokens,
                             pad_token_id=pad, temperature=None, top_p=None, top_k=None)
        for row, i in enumerate(batch):
            tokens = out[row, ids.shape[1]:].tolist()
            if tokenizer.eos_token_id in tokens:
                tokens = tokens[: tokens.index(tokenizer.eos_token_id)]
            outputs[i] = tokens
        done += len(batch)
        if progress:
            progress(done, len(prompts))
    return outputs


@torch.no_grad()  # not inference_mode: quanto tensors cannot run under it
def score(model, sequences: list[tuple[list[int], list[int]]], device: str, on_rows, pad: int,
          batch_size: int = 16, progress=None) -> None:
    """Teacher-forced pass: `on_rows(k, logp)` gets, for sequence k = (prompt, continuation),
    the float32 log-softmax rows that predict each continuation token ([len(continuation), vocab]).

    Continuations end every row, so the output head runs only over the last positions
    (`logits_to_keep`), not over the prompts. A model of another runtime scores each sequence from its
    own logits, and hands the same rows to `on_rows`.
    """
    if not isinstance(model, torch.nn.Module):
        for done, (prompt, continuation) in enumerate(sequences, 1):
            tokens = prompt + continuation  # the rows that predict each continuation token:
            rows = torch.from_numpy(model.logits(tokens[:-1], first=len(prompt) - 1))
            on_rows(done - 1, torch.log_softmax(rows, dim=-1))
            if progress:
                progress(done, len(sequences))
        return
    p = shared_prefix_length([s[0] for s in sequences])
    prefix = PrefixCache(model, sequences[0][0][:p] if p else [], device)
    order = sorted(range(len(sequences)), key=lambda k: -sum(map(len, sequences[k])))
    done = 0
    for batch in _batches(order, batch_size):
        rests, mask = _layout([sequences[k][0][p:] + sequences[k][1] for k in batch], p, pad)
        keep = max(len(sequences[k][1]) for k in batch) + 1
        positions = (mask.cumsum(-1) - 1).clamp_min(0)[:, p:]
        logits = model(input_ids=rests.to(device), attention_mask=mask.to(device), position_ids=positions.to(device),
                       past_key_values=prefix.for_batch(len(batch)), logits_to_keep=keep).logits
        for row, k in enumerate(batch):
            length = len(sequences[k][1])
            # logits[:, j] predicts the token after position width-keep+j: the continuation fills the last slots.
            rows = logits[row, keep - 1 - length : keep - 1].float()
            on_rows(k, torch.log_softmax(rows, dim=-1).cpu())
        done += len(batch)
        if progress:
            progress(done, len(sequences))
