"""What a study leaves in its RUN_DIR, loaded once for every analysis script.

Layout written by `tunescale study` (and the only thing `tunescale report` reads):

    RUN_DIR/proxies/    trial store of the muP proxy sweep (all widths and token budgets)
    RUN_DIR/target/     trial store of the target model: predicted settings + grid around them
    RUN_DIR/fit.json    the fitted laws, the prediction for the target and the budget, as
                        written by `trials.study.write_fit` from scaling/'s result objects

Every figure script takes a `StudyRun`; a missing piece is an InputError naming the path.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import pandas as pd

from tunescale.contract.errors import InputError
from tunescale.contract.store import read_trials

PROXIES = "proxies"
TARGET = "target"
FIT_JSON = "fit.json"
# Keys fit.json must hold for the report; `write_fit` writes all of them.
FIT_KEYS = ("target", "optima", "laws", "loss_law", "validation", "prediction", "target_settings")


@dataclass(frozen=True)
class StudyRun:
    """The two trial stores and the fit of one study directory."""

    run_dir: Path
    proxies: pd.DataFrame
    target: pd.DataFrame
    fit: dict

    @classmethod
    def load(cls, run_dir: str | Path) -> StudyRun:
        run_dir = Path(run_dir)
        if not run_dir.is_dir():
            raise InputError(f"{run_dir}: no such study directory; give the RUN_DIR that 'tunescale study' wrote.")
        for sub in (PROXIES, TARGET):
            if not (run_dir / sub).is_dir():
                raise InputError(
                    f"{run_dir / sub}: missing; a study RUN_DIR holds '{PROXIES}/', '{TARGET}/' and '{FIT_JSON}' "
                    f"(run 'tunescale study' to make one)."
                )
        fit_path = run_dir / FIT_JSON
        try:
            fit = json.loads(fit_path.read_text())
        except FileNotFoundError:
            raise InputError(f"{fit_path}: missing; the study did not finish its fit (rerun 'tunescale study').") from None
        except json.JSONDecodeError as exc:
            raise InputError(f"{fit_path}: not valid JSON ({exc}); rerun 'tunescale study'.") from None
        missing = [k for k in FIT_KEYS if k not in fit]
        if missing:
            raise InputError(f"{fit_path}: missing key(s) {', '.join(missing)}; expected all of {', '.join(FIT_KEYS)}.")
        return cls(
            run_dir=run_dir,
            proxies=read_trials(run_dir / PROXIES, validated=True),
            target=read_trials(run_dir / TARGET, validated=True),
            fit=fit,
        )

    @cached_property
    def target_rows(self) -> pd.DataFrame:
        """Target trials with a `role` column: 'predicted' for the run at the predicted settings, else 'grid'.

        Cached (like `verification`) because several report sections read it; treat it as read-only.
        """
        df = self.target.copy()
        s = self.fit["target_settings"]
        is_pred = df["lr"].map(lambda v: math.isclose(v, s["lr"], rel_tol=1e-9))
        for col in ("batch_size", "weight_decay"):
            if s.get(col) is not None:
                is_pred &= df[col].map(lambda v, want=s[col]: v is not None and math.isclose(v, want, rel_tol=1e-9))
        df["role"] = ["predicted" if p else "grid" for p in is_pred]
        return df

    @cached_property
    def verification(self) -> dict:
        """Predicted vs achieved at the target: the numbers of the verification table.

        `best_of_grid` is the lowest completed loss among all target runs (the predicted
        setting included, since it is the grid's centre); the gap is relative to it.
        Cached: the verification and loss-law sections both show it.
        """
        df = self.target_rows
        done = df[df["status"] == "completed"]
        pred = done[done["role"] == "predicted"]
        best = done.loc[done["loss"].idxmin()] if len(done) else None
        out = {
            "predicted_loss": self.fit["prediction"].get("loss"),
            "loss_at_predicted": float(pred["loss"].min()) if len(pred) else None,
            "best_of_grid_loss": float(best["loss"]) if best is not None else None,
            "best_of_grid_lr": float(best["lr"]) if best is not None else None,
            "best_of_grid_batch_size": int(best["batch_size"]) if best is not None and pd.notna(best["batch_size"]) else None,
            "best_of_grid_weight_decay": float(best["weight_decay"]) if best is not None and pd.notna(best["weight_decay"]) else None,
            "n_grid": int(len(df)),
            "n_grid_completed": int(len(done)),
        }
        if out["loss_at_predicted"] is not None and out["best_of_grid_loss"] is not None:
            out["gap_pct"] = 100.0 * (out["loss_at_predicted"] / out["best_of_grid_loss"] - 1.0)
        else:
            out["gap_pct"] = None
        return out


def inventory(run: StudyRun) -> dict:
    """Trial counts by status and compute spent (FLOPs and wall seconds), per stage and in total."""
    out: dict = {}
    for name, df in (("proxies", run.proxies), ("target", run.target)):
        counts = {s: int(n) for s, n in df["status"].value_counts().sort_index().items()}
        out[name] = {
            "trials": int(len(df)),
            "by_status": counts,
            "flops": float(df["flops"].fillna(0.0).sum()),
            "wall_time_s": float(df["wall_time_s"].fillna(0.0).sum()),
        }
    target_flops = run.fit["target"].get("flops")
    out["proxy_to_target_run_flops"] = out["proxies"]["flops"] / target_flops if target_flops else None
    return out
