"""Knowledge distillation of a student from the teacher, with checkpoints and resume.

Hinton, Vinyals & Dean, "Distilling the Knowledge in a Neural Network" (2015): the student
matches the teacher's temperature-softened next-token distribution, loss KL(p_T || q_T) * T^2,
optionally plus cross-entropy on the data and a hidden-state MSE (as in DistilBERT, Sanh et
al. 2019). Checkpoints (safetensors, never pickles) let an interrupted run resume where it
stopped; the step's key ties a checkpoint to the exact teacher, student, data and settings.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file


@dataclass(frozen=True)
class DistillConfig:
    steps: int = 200
    lr: float = 1e-4
    temperature: float = 2.0
    batch: int = 8
    ce_weight: float = 0.0
    hidden_weight: float = 0.0
    checkpoint_every: int = 50
    seed: int = 0


def layer_student(teacher, keep: float):
    """A student keeping an evenly spaced share of the teacher's decoder blocks (first and last
    always kept), initialised from the teacher's weights."""
    import copy

    layers = teacher.model.layers
    count = max(1, round(len(layers) * keep))
    chosen = sorted({round(i * (len(layers) - 1) / max(count - 1, 1)) for i in range(count)})
    student = copy.deepcopy(teacher)
    student.model.layers = torch.nn.ModuleList(student.model.layers[i] for i in chosen)
    student.config.num_hidden_layers = len(chosen)
    for new_index, layer in enumerate(student.model.layers):
        if hasattr(layer.self_attn, "layer_idx"):
            layer.self_attn.layer_idx = new_index
    if getattr(student.config, "layer_types", None):
        student.config.layer_types = [student.config.layer_types[i] for i in chosen]
    return student, chosen


def _optimizer_state(optimizer) -> dict[str, torch.Tensor]:
    flat = {}
    for index, state in optimizer.state_dict()["state"].items():
        for key, value in state.items():
            flat[f"{index}.{key}"] = value if torch.is_tensor(value) else torch.tensor(value)
    return flat


def _load_optimizer_state(optimizer, flat: dict[str, torch.Tensor]) -> None:
    state = optimizer.state_dict()
    restored: dict[int, dict] = {}
    for name, value in flat.items():
        index, key = name.split(".", 1)
        restored.setdefault(int(index), {})[key] = value
    state["state"] = restored
    optimizer.load_state_dict(state)


class Checkpoints:
    def __init__(self, folder: Path):
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)

    def save(self, student, optimizer, step: int, history: list[float], seconds: float) -> None:
        state = {k: v.detach().contiguous().cpu() for k, v in student.state_dict().items()}
        seen, unique = set(), {}
        for name, tensor in state.items():  # tied weights once
            key = (tensor.untyped_storage().data_ptr(), tensor.storage_offset())
            if key not in seen:
                seen.add(key)
                unique[name] = tensor
        tmp = self.folder / "partial"
        tmp.mkdir(exist_ok=True)
        save_file(unique, str(tmp / "student.safetensors"))
        save_file({k: v.cpu() for k, v in _optimizer_state(optimizer).items()}, str(tmp / "optimizer.safetensors"))
        (tmp / "progress.json").write_text(json.dumps({"step": step, "history": history, "seconds": seconds}))
        for path in tmp.iterdir():
            path.replace(self.folder / path.name)  # each file lands whole

    def load(self, student, optimizer) -> tuple[int, list[float], float]:
        """(step reached, loss history, training seconds spent so far, across every resume)."""
        progress = self.folder / "progress.json"
        if not progress.is_file():
            return 0, [], 0.0
        student.load_state_dict(load_file(str(self.folder / "student.safetensors")), strict=False)
        student.tie_weights()
        _load_optimizer_state(optimizer, load_file(str(self.folder / "optimizer.safetensors")))
        data = json.loads(progress.read_text())
        return data["step"], data["history"], data.get("seconds", 0.0)


def distill(teacher, student, rows: torch.Tensor, config: DistillConfig, device: str, checkpoints: Checkpoints,
            report=None) -> dict:
    """Train the student on `rows` ([sequences, length] token ids); returns the training record."""
    teacher.eval()
    student.train()
    optimizer = torch.optim.AdamW([p for p in student.parameters() if p.requires_grad], lr=config.lr)
    start, history, spent_before = checkpoints.load(student, optimizer)
    generator = torch.Generator().manual_seed(config.seed)
    order = torch.randperm(len(rows), generator=generator)
    began, t = time.perf_counter(), config.temperature
    for step in range(start, config.steps):
        pick = order[(torch.arange(config.batch) + step * config.batch) % len(rows)]
        ids = rows[pick].to(device)
        with torch.no_grad():
            teacher_out = teacher(input_ids=ids, output_hidden_states=config.hidden_weight > 0)
        out = student(input_ids=ids, labels=ids if config.ce_weight > 0 else None,
                      output_hidden_states=config.hidden_weight > 0)
        loss = F.kl_div(F.log_softmax(out.logits.float() / t, -1), F.log_softmax(teacher_out.logits.float() / t, -1),
                        log_target=True, reduction="batchmean") / ids.shape[1] * t * t
        if config.ce_weight > 0:
            loss = loss + config.ce_weight * out.loss
        if config.hidden_weight > 0:
            loss = loss + config.hidden_weight * F.mse_loss(out.hidden_states[-1], teacher_out.hidden_states[-1])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(student.parameters(), 1.0)
        optimizer.step()
        history.append(round(loss.item(), 5))
        done = step + 1
        if done % config.checkpoint_every == 0 or done == config.steps:
            checkpoints.save(student, optimizer, done, history, spent_before + time.perf_counter() - began)
        if report:
            elapsed = time.perf_counter() - began
            eta = elapsed / (done - start) * (config.steps - done)
            report(done, config.steps, history[-1], eta)
    student.eval()
    this_session = time.perf_counter() - began
    # Economics charge the whole training, also the part done before a resume or by an earlier
    # plan whose finished checkpoint this one reuses.
    return {"steps": config.steps, "resumed_from": start, "seconds": spent_before + this_session,
            "seconds_this_run": this_session, "loss_history": history, "config": asdict(config)}
