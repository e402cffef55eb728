"""Trainables for sweep fault tests: they kill their own worker, break the store, or plant a pickle.

`dying_trial` SIGKILLs the Ray worker it runs in for its first `hp_die_times`
attempts (attempts are counted as files in `hp_die_dir`, which outlive the process),
then trains the synthetic bowl.
"""

import os
import pickle
import shutil
import signal
import time
import uuid
from pathlib import Path

from tunescale.trials.synthetic import quadratic_trial


def dying_trial(config, *, on_eval=None):
    attempts = Path(config["hp_die_dir"]) / str(config["lr"])
    attempts.mkdir(parents=True, exist_ok=True)
    (attempts / f"{os.getpid()}-{uuid.uuid4().hex}").touch()
    if len(list(attempts.iterdir())) <= config["hp_die_times"]:
        os.kill(os.getpid(), signal.SIGKILL)
    return quadratic_trial(config, on_eval=on_eval)


def store_breaking_trial(config, *, on_eval=None):
    """Trains the bowl, but the trial with lr == `hp_break_at_lr` first makes the store
    unwritable (its trials/.tmp/ becomes a file: a read-only store, even for root)."""
    if config["lr"] == config["hp_break_at_lr"]:
        tmp = Path(config["hp_store"]) / "trials" / ".tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.write_text("not a directory")
    return quadratic_trial(config, on_eval=on_eval)


class _Opens:
    """Unpickling this creates the file `path`: a stand-in for code planted in a pickle."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self):
        return open, (self.path, "w")


def pickle_planting_trial(config, *, on_eval=None):
    """The trial with lr == `hp_die_at_lr` kills its worker, so Tune pickles the error in its
    staging copy of that trial's directory and syncs it into STORAGE/_tune/ (from which Tune's
    result grid unpickles it when the run ends). The other trial, running beside it, waits for
    that pickle and swaps in one that, unpickled, creates the file `hp_marker`."""
    if config["lr"] == config["hp_die_at_lr"]:
        os.kill(os.getpid(), signal.SIGKILL)
    # Tune runs a trial in <experiment>/working_dirs/<trial>/ and stages its files in <experiment>/driver_artifacts/.
    staging = Path.cwd().parent.parent / "driver_artifacts"
    deadline = time.monotonic() + 60
    while not (errors := list(staging.glob("*/error.pkl"))):
        if time.monotonic() > deadline:
            raise TimeoutError(f"Tune wrote no error.pkl under {staging}")
        time.sleep(0.1)
    for error in errors:
        error.write_bytes(pickle.dumps(_Opens(config["hp_marker"])))
    return quadratic_trial(config, on_eval=on_eval)
