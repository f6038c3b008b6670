"""The forward passes behind every prompt metric, done once per plan by `answer`: per batch of
prompts (sorted by length), each prompt is prefilled once, and its greedy continuation and the
teacher-forced continuations the metrics need (a reference, the baseline's output, each choice)
all start from copies of that KV cache.

Chat-templated prompts share a long common prefix (the template's system turn). It is run
once per model and its KV cache reused by every batch, so no forward pass repeats it; rows
are laid out as [prefix][padding][rest], with the padding masked and positions taken from
the mask.
"""

from __future__ import annotations

import copy

import torch

from engine.measure.latency import cache_of


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
                self.cache = cache_of(model(input_ids=torch.tensor([prefix], device=device), use_cache=True))

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


def generated_rows_cover(continuation: list[int], output: list[int], rows: int) -> bool:
    """Whether the `rows` logits rows kept while generating `output` already predict every token of
    `continuation`: row t was computed after the prompt and output[:t], so it is the teacher-forced row
    of any continuation that agrees with the output before t (the baseline's own output, an answer the
    plan also gave)."""
    n = len(continuation)
    return n <= rows and continuation[: n - 1] == output[: n - 1]


def _continuation_rows(conts: list[list[int]], last: torch.Tensor, cached: torch.Tensor, pad: int):
    """Teacher-forcing rows that continue cached prompts: [the prompt's last token][continuation minus its
    last token], right-padded; the mask over [cached prompt][row]; positions from the prompt's last token
    (`cached` is the mask of what the cache holds: every prompt token but the last)."""
    width = max(len(c) for c in conts)
    ids = torch.full((len(conts), width), pad, dtype=torch.long)
    new = torch.zeros((len(conts), width), dtype=torch.long)
    for row, cont in enumerate(conts):
        ids[row, : len(cont)] = torch.tensor([int(last[row])] + cont[:-1])
        new[row, : len(cont)] = 1
    return ids, torch.cat([cached, new], dim=1), cached.sum(-1, keepdim=True) + torch.arange(width)


@torch.no_grad()  # not inference_mode: quanto tensors cannot run under it
def answer(model, tokenizer, prompts: list[list[int]], max_new_tokens: int, device: str, continuations, on_rows,
           batch_size: int = 16, progress=None) -> list[list[int]]:
    """Greedy continuations (token ids, cut at end of sequence) of every prompt, and teacher-forced
    log-probabilities of the continuations `continuations(i, output)` asks for prompt i given its output.

    Each prompt is prefilled once: generation and every teacher-forced continuation start from copies of
    its KV cache, and a continuation the generated output already covers takes generation's own rows.
    `on_rows(i, j, logp)` gets the float32 log-softmax rows that predict each token of prompt i's j-th
    continuation ([len(continuation), vocab]). A model of another runtime (llama.cpp) does the same
    through its own parallel streams.
    """
    if not isinstance(model, torch.nn.Module):
        return model.answer(prompts, max_new_tokens, tokenizer.eos_token_id, continuations, on_rows,
                            parallel=min(batch_size, 64), progress=progress)
    pad = pad_id(tokenizer)
    p = shared_prefix_length(prompts)
    prefix = PrefixCache(model, prompts[0][:p] if p else [], device)
    order = sorted(range(len(prompts)), key=lambda i: len(prompts[i]))
    outputs: list[list[int]] = [[] for _ in prompts]
    done = 0
    for batch in _batches(order, batch_size):
        rests, mask = _layout([prompts[i][p:] for i in batch], p, pad)
        positions = (mask.cumsum(-1) - 1).clamp_min(0)
        cache = prefix.for_batch(len(batch))
        if rests.shape[1] > 1:  # the prompts but their last token: what generation and scoring share
            cache = cache_of(model(input_ids=rests[:, :-1].to(device), attention_mask=mask[:, :-1].to(device),
                                   position_ids=positions[:, p:-1].to(device), past_key_values=cache, use_cache=True,
                                   logits_to_keep=1))
        ids = torch.cat([torch.tensor([prefix.prefix] * len(batch), dtype=torch.long).reshape(len(batch), p), rests],
                        dim=1)
        out = model.generate(input_ids=ids.to(device), attention_mask=mask.to(device), do_sample=False,
                             past_key_values=copy.deepcopy(cache), max_new_tokens=max_new_tokens,
                             pad_token_id=pad, temperature=None, top_p=None, top_k=None,
                             output_logits=True, return_dict_in_generate=True)
        steps = torch.stack(out.logits, dim=1)  # [rows, steps, vocab]: row t predicted generated token t
        wanted = []
        for row, i in enumerate(batch):
            tokens = out.sequences[row, ids.shape[1]:].tolist()
            if tokenizer.eos_token_id in tokens:
                tokens = tokens[: tokens.index(tokenizer.eos_token_id)]
            outputs[i] = tokens
            valid = min(len(tokens) + 1, steps.shape[1])  # past its end of sequence a row is padding
            for j, cont in enumerate(continuations(i, tokens)):
                if generated_rows_cover(cont, tokens, valid):
                    on_rows(i, j, torch.log_softmax(steps[row, : len(cont)].float(), dim=-1).cpu())
                else:
                    wanted.append((row, i, j, cont))
        del steps, out
        for chunk in _batches(list(range(len(wanted))), batch_size):
            rows = torch.tensor([wanted[k][0] for k in chunk])
            conts = [wanted[k][3] for k in chunk]
            chunk_cache = copy.deepcopy(cache) if cache is not None else None
            if chunk_cache is not None:
                chunk_cache.batch_select_indices(rows.to(device))
            cont_ids, cont_mask, cont_pos = _continuation_rows(conts, rests[rows, -1], mask[rows, :-1], pad)
            logits = model(input_ids=cont_ids.to(device), attention_mask=cont_mask.to(device),
                           position_ids=cont_pos.to(device), past_key_values=chunk_cache).logits
            for at, k in enumerate(chunk):
                _row, i, j, cont = wanted[k]
                on_rows(i, j, torch.log_softmax(logits[at, : len(cont)].float(), dim=-1).cpu())
        done += len(batch)
        if progress:
            progress(done, len(prompts))
    return outputs
