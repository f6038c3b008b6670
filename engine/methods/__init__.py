"""Compression methods, one small module per family; each registers its steps by name."""
