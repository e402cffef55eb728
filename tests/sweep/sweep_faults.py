"""A trainable for sweep fault tests: it kills its own worker process on purpose.

`dying_trial` SIGKILLs the Ray worker it runs in for its first `hp_die_times`
attempts (attempts are counted as files in `hp_die_dir`, which outlive the process),
then trains the synthetic bowl.
"""

import os
import shutil
import signal
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
