"""Where a plan runs and is measured: `torch` (transformers' forward on the run's device; the decode
paths live in engine/measure/) or `llama.cpp` (a GGUF file through llama-cpp-python: `llamacpp.py`,
written by `gguf_export.py`). `interface.py` is what the pipeline asks of any runtime."""
