"""Pure measurement functions over a model: size, latency, memory, roofline, accuracy."""
