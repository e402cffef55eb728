"""Byte-level language-modelling corpus from the Python standard library's own source.

Every machine that runs tunescale has these files, so the corpus needs no download.
Files are split into train / validation BY FILE (a hash of the path relative to the
stdlib root decides), so no file straddles the split. Each split is one uint8 array of
byte tokens (vocabulary 256), built once and cached as ``.npy`` under the cache dir
(``$TUNESCALE_CACHE`` or ``~/.cache/tunescale``).

Batches are fixed-length windows of ``seq_len + 1`` bytes at seeded random offsets, so a
run of S steps at batch B sees exactly S·B·seq_len training tokens.
"""

from __future__ import annotations

import hashlib
import os
import sys
import sysconfig
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from tunescale.contract.errors import InputError

VOCAB_SIZE = 256  # bytes
# 10% of files for validation: ~3 MB of held-out source, plenty for a stable eval loss.
VAL_FRACTION = 0.1
# Seed of the held-out windows: the same for every trial, so eval losses compare across seeds.
EVAL_SEED = 1234


def cache_dir(path: str | os.PathLike | None = None) -> Path:
    root = path or os.environ.get("TUNESCALE_CACHE") or Path.home() / ".cache" / "tunescale"
    return Path(root)


def stdlib_files() -> tuple[Path, list[Path]]:
    """The stdlib root and its .py files (site-packages excluded), in a stable order."""
    root = Path(sysconfig.get_paths()["stdlib"])
    files = sorted(
        p for p in root.rglob("*.py") if "site-packages" not in p.relative_to(root).parts
    )
    if not files:
        raise InputError(f"{root}: no .py files found; the Python standard library source is needed.")
    return root, files


def is_validation(relative_path: str, val_fraction: float = VAL_FRACTION) -> bool:
    """Deterministic split: the first 8 bytes of sha256(path) as a fraction of 2^64."""
    h = int.from_bytes(hashlib.sha256(relative_path.encode()).digest()[:8], "big")
    return h / 2**64 < val_fraction


@dataclass(frozen=True)
class Corpus:
    """The two splits as uint8 token arrays (memory-mapped from the cache)."""

    train: np.ndarray
    val: np.ndarray
    n_train_files: int
    n_val_files: int


def _build(root: Path, files: list[Path], val_fraction: float) -> dict[str, tuple[np.ndarray, int]]:
    parts: dict[str, list[bytes]] = {"train": [], "val": []}
    for path in files:
        split = "val" if is_validation(path.relative_to(root).as_posix(), val_fraction) else "train"
        parts[split].append(path.read_bytes())
    return {k: (np.frombuffer(b"".join(v), dtype=np.uint8), len(v)) for k, v in parts.items()}


def load_corpus(cache: str | os.PathLike | None = None, val_fraction: float = VAL_FRACTION) -> Corpus:
    """Build (once) and load the stdlib byte corpus; cached per Python version and split."""
    if not 0 < val_fraction < 1:
        raise InputError(f"val_fraction={val_fraction!r}; expected a fraction strictly between 0 and 1.")
    tag = f"stdlib-py{sys.version_info.major}{sys.version_info.minor}-val{val_fraction:g}"
    directory = cache_dir(cache)
    paths = {k: directory / f"{tag}-{k}.npy" for k in ("train", "val")}
    counts = directory / f"{tag}-files.txt"
    if not all(p.exists() for p in paths.values()) or not counts.exists():
        root, files = stdlib_files()
        built = _build(root, files, val_fraction)
        directory.mkdir(parents=True, exist_ok=True)
        for k, (arr, _) in built.items():
            tmp = directory / f".{os.getpid()}-{tag}-{k}.npy"
            np.save(tmp, arr)
            os.replace(tmp, paths[k])
        tmp = directory / f".{os.getpid()}-{tag}-files.txt"
        tmp.write_text(f"{built['train'][1]} {built['val'][1]}\n")
        os.replace(tmp, counts)
    n_train, n_val = (int(v) for v in counts.read_text().split())
    return Corpus(
        train=np.load(paths["train"], mmap_mode="r"),
        val=np.load(paths["val"], mmap_mode="r"),
        n_train_files=n_train,
        n_val_files=n_val,
    )


class TokenBatches:
    """Seeded fixed-length windows (x, y = x shifted by one byte) from one split."""

    def __init__(self, tokens: np.ndarray, seq_len: int, batch_size: int, seed: int) -> None:
        if len(tokens) <= seq_len + 1:
            raise InputError(f"split has {len(tokens)} tokens, fewer than seq_len+1={seq_len + 1}.")
        self.tokens = tokens
        self.seq_len = seq_len
        self.batch_size = batch_size
        self.rng = np.random.default_rng(seed)

    def next(self) -> tuple[torch.Tensor, torch.Tensor]:
        starts = self.rng.integers(0, len(self.tokens) - self.seq_len - 1, size=self.batch_size)
        idx = starts[:, None] + np.arange(self.seq_len + 1)[None, :]
        window = torch.from_numpy(self.tokens[idx].astype(np.int64))
        return window[:, :-1], window[:, 1:]

    def fixed(self, n_batches: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """`n_batches` batches drawn now: a held-out set reused at every evaluation."""
        return [self.next() for _ in range(n_batches)]
