"""fp8 needs fp8 tensor cores: on a CPU the plan fails with a reason, and the others still run."""

import pytest
import torch

from engine.methods.fp8 import fp8_supported
from engine.plan import parse
from engine.registry import STEPS
from engine.settings import StepContext


def test_fp8_refuses_the_cpu_with_the_reason():
    assert "needs a CUDA GPU with fp8 tensor cores" in fp8_supported("cpu")
    step = parse("fp8").steps[0]
    with pytest.raises(RuntimeError, match="Ada or Hopper"):
        STEPS["fp8"].fn(torch.nn.Linear(4, 4), step, StepContext("cpu", None))


def test_fp8_modes_are_registered():
    assert STEPS["fp8"].params["mode"].choices == ("dynamic", "weight")
