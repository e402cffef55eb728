"""What a study leaves in its RUN_DIR, loaded once for every analysis script.

The layout is the study's (`tunescale.study.results`): the fit and the verdict are read
back through their typed records (`StudyFit` from fit.json, `Verdict` from study.json),
and the proxy store for the per-width loss curves. Every figure script takes a `StudyRun`;
a missing or malformed piece is one InputError naming the path (and the key).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from tunescale.contract.errors import InputError
from tunescale.contract.store import read_trials
from tunescale.study.results import FIT_JSON, PROXIES, STUDY_JSON, TARGET, StudyFit
from tunescale.study.verdict import Verdict


@dataclass(frozen=True)
class StudyRun:
    """The proxy trials, the fit and the verdict of one study directory."""

    run_dir: Path
    proxies: pd.DataFrame
    fit: StudyFit
    verdict: Verdict

    @classmethod
    def load(cls, run_dir: str | Path) -> StudyRun:
        run_dir = Path(run_dir)
        if not run_dir.is_dir():
            raise InputError(f"{run_dir}: no such study directory; give the RUN_DIR that 'tunescale study' wrote.")
        for sub in (PROXIES, TARGET):
            if not (run_dir / sub).is_dir():
                raise InputError(
                    f"{run_dir / sub}: missing; a study RUN_DIR holds '{PROXIES}/', '{TARGET}/', '{FIT_JSON}' "
                    f"and '{STUDY_JSON}' (run 'tunescale study' to make one)."
                )
        fit, verdict = StudyFit.load(run_dir / FIT_JSON), Verdict.load(run_dir / STUDY_JSON)
        return cls(run_dir=run_dir, proxies=read_trials(run_dir / PROXIES, validated=True), fit=fit, verdict=verdict)
