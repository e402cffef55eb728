import numpy as np
import torch

from tunescale.trials.data.classification import load_classification
from tunescale.trials.data.corpus import TokenBatches, is_validation, load_corpus, stdlib_files


def test_split_is_by_file_deterministic_and_exact():
    root, files = stdlib_files()
    rel = [f.relative_to(root).as_posix() for f in files]
    val = [r for r in rel if is_validation(r)]
    assert 0.05 < len(val) / len(rel) < 0.15
    assert val == [r for r in rel if is_validation(r)]
    corpus = load_corpus()
    assert corpus.train.dtype == np.uint8
    assert corpus.n_train_files + corpus.n_val_files == len(files)
    val_bytes = sum((root / r).stat().st_size for r in val)
    assert len(corpus.val) == val_bytes


def test_batches_are_shifted_windows_and_seeded():
    corpus = load_corpus()
    x, y = TokenBatches(corpus.val, 32, 4, seed=3).next()
    assert x.shape == y.shape == (4, 32) and x.dtype == torch.int64
    assert torch.equal(x[:, 1:], y[:, :-1])
    x2, _ = TokenBatches(corpus.val, 32, 4, seed=3).next()
    assert torch.equal(x, x2)


def test_classification_set_is_deterministic_with_noisy_train_labels():
    a, b = load_classification(seed=0), load_classification(seed=0)
    assert all(torch.equal(u, v) for u, v in zip(a, b, strict=True))
    x_train, y_train, x_val, y_val = a
    assert x_train.shape == (1000, 32) and x_val.shape == (2000, 32)
    assert set(y_train.unique().tolist()) == set(range(10)) == set(y_val.unique().tolist())
