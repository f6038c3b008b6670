"""Compression Economics engine: compress a model under named plans and measure what it costs."""

import logging
import warnings

__version__ = "0.1.0"

# torchao announces at import every optional CUDA extension it cannot load on a CPU build.
logging.getLogger("torchao").setLevel(logging.ERROR)
# torchao registers enums with torch's pytree at import, which torch now warns about.
logging.getLogger("torch.utils._pytree").setLevel(logging.ERROR)
# transformers renames `past_key_values`; the old name is the one every installed version accepts.
warnings.filterwarnings("ignore", message=".*past_key_values.*", category=FutureWarning)
warnings.filterwarnings("ignore", message="MatMul8bitLt: inputs will be cast")
