"""The end-to-end study: tune small muP proxies, fit how optima move, predict and verify the target.

One spec (TOML, see study/specs/study_default.toml) and one RUN_DIR:

1) proxies, through the sweep machinery (`sweep.engine.run_sweep`) on a local Ray (or
   `--address`), all rows in RUN_DIR/proxies; at every proxy width and token budget
   (tokens are fixed per scale, so a batch size B trains tokens / (B·seq_len) steps), with
   `[proxies] search = "grid"` (the default):
   a) a grid over lr and batch size jointly (weight decay at the centre of its grid);
   b) if weight decay is swept, its other grid values at the (lr, batch size) of lowest mean loss
      over the widths at that budget (muP: it transfers across width);
   with search = "random" or "carbs": `trials` configurations of every swept hyperparameter
   drawn together (random: the same draws at every width and budget; CARBS: one search each);
2) fit: `study.fit.fit_study` (scaling/; grid: optima per scale — lr and batch size as one
   paraboloid — HP laws, loss law; random/CARBS: one joint model across scales, the optima and
   laws read off it; each validated by leaving the largest width out) predicts lr, batch size,
   weight decay and loss at the target, which is wider than every proxy; RUN_DIR/fit.json;
3) target: the target model trained at the predicted settings and, one hyperparameter at a
   time, at each `<hp>_multipliers` grid around its prediction; rows in RUN_DIR/target;
4) verdict: loss at the predicted settings vs the best of each hyperparameter's grid, the
   optima's drift across widths, and the budget (all proxy compute vs one target run's),
   from the two stores (`study.verdict.judge`); written to RUN_DIR/study.json.

`tunescale report RUN_DIR` draws it all from those four things.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import sys
import time
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from tunescale.contract.errors import InputError, TunescaleError
from tunescale.contract.spec_file import Problems, int_field, is_int, is_name, read_toml, table_field
from tunescale.contract.text import num
from tunescale.contract.writable import dir_problem
from tunescale.study.jsondoc import write_json
from tunescale.study.results import (
    ELAPSED_JSON,
    FIT_JSON,
    PROXIES,
    STUDY_JSON,
    TARGET,
    TOKEN_BUDGET_TAG,
    StudyFit,
    Target,
)
from tunescale.trials.defaults import DEFAULTS

if TYPE_CHECKING:
    from tunescale.study.verdict import Verdict  # pandas and the store load only when a study runs


class StudySpecError(TunescaleError):
    """The study spec has problems; the message lists each with its key."""


DEFAULT_SPEC = "study_default.toml"
DEFAULT_RUN_DIR = "runs/study"
_TOP = {"name", "out", "seed", "concurrency", "trials_per_task", "model", "proxies", "target", "fixed", "fit"}
_MODEL = {"depth", "parametrization", "head_dim"}
_PROXIES = {"widths", "tokens", "space", "search", "trials"}
_FIT = {"n_bootstrap"}
STUDY_HPS = ("lr", "batch_size", "weight_decay")
_TARGET = {"width", "tokens", *(f"{hp}_multipliers" for hp in STUDY_HPS)}
# Parametrizations under which an optimum does not move with width (muTransfer): the study's laws are in tokens.
WIDTH_TRANSFER = ("mup", "umup")
MIN_GRID = 3  # a parabola (scaling/optima) needs 3 distinct values of a hyperparameter at one scale
# How the proxies are searched: a grid per scale (optima per scale), or configurations drawn at random or
# by CARBS with lr, batch size and weight decay together (one joint model across scales, scaling/joint.py)
SEARCHES = ("grid", "random", "carbs")


@dataclass(frozen=True)
class StudySpec:
    """A validated study spec; `fixed` holds trainer keys every trial shares (batch_size, seq_len, ...)."""

    name: str
    out: str
    widths: tuple[int, ...]
    token_budgets: tuple[float, ...]
    space: dict
    target_width: int
    target_tokens: float
    multipliers: dict[str, tuple[float, ...]]  # hp -> the target's one-at-a-time grid around its prediction
    depth: int = 2
    parametrization: str = "mup"
    head_dim: int | None = None
    seed: int = 0
    concurrency: int = 2
    trials_per_task: int = 1
    n_bootstrap: int = 200
    fixed: dict = field(default_factory=dict)
    search: str = "grid"
    trials: int | None = None  # random/carbs: configurations per proxy width and token budget

    @property
    def swept(self) -> tuple[str, ...]:
        """The hyperparameters the proxies sweep, in STUDY_HPS order."""
        return tuple(hp for hp in STUDY_HPS if hp in self.space)

    @property
    def wd_centre(self) -> float | None:
        """The weight decay the lr x batch-size grid runs at: the median of its grid (None if not swept)."""
        values = sorted(self.space["weight_decay"]["values"]) if "weight_decay" in self.space else None
        return float(values[len(values) // 2]) if values else None


def spec_path(name: str | None) -> Path:
    """A spec file path, or one of the specs shipped in study/specs/ by file name (default: the default)."""
    if name is None or not Path(name).exists():
        shipped = resources.files("tunescale.study") / "specs" / (name or DEFAULT_SPEC)
        if name is None or shipped.is_file():
            return Path(str(shipped))
        available = sorted(
            p.name for p in (resources.files("tunescale.study") / "specs").iterdir() if p.name.endswith(".toml")
        )
        raise InputError(f"{name}: no such spec file (shipped specs: {', '.join(available)}).")
    return Path(name)


def _positive_list(raw: dict, key: str, p: Problems, where: str, kind=int) -> tuple:
    v = raw.get(key)
    if not isinstance(v, list) or not v or not all(isinstance(x, int | float) and x > 0 for x in v):
        p.add(where + key, f"expected a non-empty list of positive numbers, got {v!r}")
        return ()
    if kind is int and not all(float(x).is_integer() for x in v):
        p.add(where + key, f"expected whole numbers, got {v!r}")
        return ()
    return tuple(sorted(kind(x) for x in v))


def _check_grid(dim, hp: str, p: Problems) -> None:
    """Batch size and weight decay come from an explicit choice of 3+ positive values: a grid's axis, or what a
    random or CARBS search draws from (the joint model needs 3+ values to fit a basin in them)."""
    values = dim.get("values") if isinstance(dim, dict) and dim.get("type") == "choice" else None
    whole = hp != "batch_size" or all(isinstance(v, int) for v in values or [])
    if (
        not isinstance(values, list)
        or len(set(values)) < MIN_GRID
        or not all(isinstance(v, int | float) and v > 0 for v in values)
        or not whole
    ):
        kind = "whole numbers" if hp == "batch_size" else "numbers (a log axis)"
        p.add(f"proxies.space.{hp}", f'expected type = "choice" with {MIN_GRID}+ distinct positive {kind}, got {dim!r}')


def _search(proxies: dict, widths: tuple, budgets: tuple, space: dict, p: Problems) -> tuple[str, int | None]:
    """[proxies] search and trials: a grid runs every grid point; random and CARBS draw `trials` configurations
    per proxy width and token budget, enough for the joint model's leanest form without the largest width."""
    search, trials = proxies.get("search", "grid"), proxies.get("trials")
    if search not in SEARCHES:
        p.add("proxies.search", f"expected one of {', '.join(SEARCHES)}, got {search!r}")
        return "grid", None
    if search == "grid":
        if "trials" in proxies:
            p.add("proxies.trials", 'search = "grid" runs every grid point; remove trials, or set search = '
                  '"random" or "carbs"')
        return search, None
    if not is_int(trials) or trials < 1:
        p.add("proxies.trials", f'search = "{search}" needs the number of configurations per proxy width and '
              f"token budget (an integer >= 1), got {trials!r}")
        return search, None
    from tunescale.scaling.joint import MIN_RUNS_PER_COEF
    from tunescale.scaling.joint_model import Layout

    hps = [hp for hp in STUDY_HPS if hp in space]
    need = MIN_RUNS_PER_COEF * int(Layout(len(hps), 0).free(()).sum())
    scales = (len(widths) - 1) * len(budgets)  # the validation refits without the largest width
    if scales > 0 and scales * trials < need:
        p.add("proxies.trials", f"the joint model of the loss in {', '.join(hps)} needs at least {need} completed "
              f"runs without the largest width (its validation refits on those), and {scales} (width, tokens) "
              f"scales x {trials} trials give {scales * trials}; set trials >= {-(-need // scales)}")
    return search, trials


def load_study_spec(path: str | os.PathLike) -> StudySpec:
    """Read and validate a study spec; one StudySpecError listing every problem."""
    path = Path(path)
    raw = read_toml(path, StudySpecError)
    p = Problems()
    p.unknown(raw, _TOP)
    model, proxies, target, fit, fixed = (
        table_field(raw, k, p) for k in ("model", "proxies", "target", "fit", "fixed")
    )
    for name, table, allowed in (
        ("model", model, _MODEL),
        ("proxies", proxies, _PROXIES),
        ("target", target, _TARGET),
        ("fit", fit, _FIT),
    ):
        p.unknown(table, allowed, f"{name}.")
    widths = _positive_list(proxies, "widths", p, "proxies.")
    budgets = _positive_list(proxies, "tokens", p, "proxies.", kind=float)
    space = proxies.get("space", {})
    if not isinstance(space, dict) or "lr" not in space:
        p.add("proxies.space", 'needs [proxies.space.lr] (e.g. type = "log", low = 5e-3, high = 0.32, num = 7)')
        space = {}
    for k in space:
        if k not in STUDY_HPS:
            p.add(f"proxies.space.{k}", f"the study sweeps only {', '.join(STUDY_HPS)}; put {k} in [fixed]")
    search, trials = _search(proxies, widths, budgets, space, p)
    for hp in ("batch_size", "weight_decay"):
        if hp in space:
            _check_grid(space[hp], hp, p)
        if hp in space and hp in fixed:
            p.add(f"fixed.{hp}", f"swept in [proxies.space.{hp}]; remove it from [fixed]")
    if "weight_decay" in space and "tau" in fixed:
        p.add("fixed.tau", "weight decay is swept in [proxies.space.weight_decay]; remove tau")
    multipliers = {}
    for hp in STUDY_HPS:
        key = f"{hp}_multipliers"
        if key not in target and hp != "lr":
            continue
        grid = _positive_list(target, key, p, "target.", kind=float)
        if grid and 1.0 not in grid:
            p.add(f"target.{key}", f"must contain 1.0 (the predicted {hp} itself), got {list(grid)}")
        if hp != "lr" and hp not in space:
            p.add(
                f"target.{key}",
                f"{hp} is not swept by the proxies, so nothing predicts it; add [proxies.space.{hp}] or remove {key}",
            )
        multipliers[hp] = grid
    seq_len = fixed.get("seq_len", DEFAULTS["seq_len"])
    sizes = space.get("batch_size", {}).get("values", []) if isinstance(space.get("batch_size"), dict) else []
    per_step = [b * seq_len for b in sizes if isinstance(b, int) and b > 0] if isinstance(seq_len, int) else []
    uneven = [t for t in budgets if per_step and t % math.lcm(*per_step)]
    if uneven:
        p.add(
            "proxies.tokens",
            f"{[f'{t:g}' for t in uneven]} tokens are not a whole number of steps at every "
            f"batch size x seq_len {seq_len}; use multiples of {math.lcm(*per_step)} so "
            f"every run at a scale trains the same tokens",
        )
    if len(widths) < 3:
        p.add("proxies.widths", f"a law in width needs at least 3 proxy widths, got {list(widths)}")
    if widths and len(widths) * len(budgets) < 6:
        p.add(
            "proxies",
            f"the loss law has 5 coefficients and needs at least 6 (width, tokens) scales, "
            f"got {len(widths)} widths x {len(budgets)} budgets",
        )
    tw = target.get("width")
    if not isinstance(tw, int) or (widths and tw <= max(widths)):
        p.add("target.width", f"expected an integer wider than every proxy (> {max(widths or (0,))}), got {tw!r}")
    tt = target.get("tokens")
    if not isinstance(tt, int | float) or tt <= 0:
        p.add("target.tokens", f"expected a positive number, got {tt!r}")
    for k in ("model", "width", "depth", "tokens", "steps", "lr", "parametrization", "base_width", "seed"):
        if k in fixed:
            p.add(f"fixed.{k}", "set by the study ([model], [proxies], [target] or the LR sweep); remove it")
    name = raw.get("name", "study")
    if not is_name(name):
        p.add("name", f"expected letters, digits, '-' or '_', got {name!r}")
    seed = int_field(raw, "seed", 0, p, minimum=0)
    concurrency = int_field(raw, "concurrency", 2, p, minimum=1)
    trials_per_task = int_field(raw, "trials_per_task", 1, p, minimum=1)
    if search == "carbs" and trials_per_task > 1:
        p.add("trials_per_task", "CARBS picks each configuration from the results so far; use trials_per_task = 1")
    depth = int_field(model, "depth", 2, p, minimum=1, where="model.")
    # The report draws the loss law's bootstrap interval, so at least one resample.
    n_bootstrap = int_field(fit, "n_bootstrap", 200, p, minimum=1, where="fit.")
    if p.items:
        raise StudySpecError(f"{path}: {len(p.items)} problem(s): " + "; ".join(p.items))
    return StudySpec(
        name=name,
        out=str(raw.get("out", DEFAULT_RUN_DIR)),
        widths=widths,
        token_budgets=budgets,
        space=dict(space),
        target_width=tw,
        target_tokens=float(tt),
        multipliers=multipliers,
        depth=depth,
        parametrization=str(model.get("parametrization", "mup")),
        head_dim=model.get("head_dim"),
        seed=seed,
        concurrency=concurrency,
        trials_per_task=trials_per_task,
        n_bootstrap=n_bootstrap,
        fixed=dict(fixed),
        search=search,
        trials=trials,
    )


def _trainer_fixed(spec: StudySpec) -> dict:
    """Trainer keys every trial shares. Where batch size is swept, every run is evaluated on the same
    held-out sequences (batches of the largest swept size), so losses compare across batch sizes."""
    sizes = spec.space.get("batch_size", {}).get("values")
    eval_size = {"eval_batch_size": max(sizes)} if sizes and "eval_batch_size" not in spec.fixed else {}
    return {**eval_size, **spec.fixed, **({"head_dim": spec.head_dim} if spec.head_dim else {})}


def _sweep_raw(spec: StudySpec, stage: str, storage: Path, widths, tokens: float, space: dict, fixed: dict,
               search: str = "grid") -> dict:
    """A `tunescale sweep` spec (as parsed TOML) for one stage of the study: a grid, or `spec.trials`
    configurations of a random or CARBS search at each width. CARBS stops no trial early: the joint
    model takes each run's final loss, and a stopped run has none."""
    samples = {"num_samples": spec.trials} if search != "grid" else {}
    if search == "carbs":
        samples["early_stopping"] = False
    return {
        "name": f"{spec.name}-{stage}",
        "algorithm": search,
        **samples,
        "mode": "transfer" if len(widths) > 1 else "standard",
        "concurrency": spec.concurrency,
        "seed": spec.seed,
        "storage": str(storage),
        "trials_per_task": spec.trials_per_task,
        "model": {
            "family": "transformer",
            "widths": list(widths),
            "depths": [spec.depth],
            "parametrization": spec.parametrization,
            "base_width": min(spec.widths),
        },
        "budget": {"tokens": tokens},
        "space": space,
        "fixed": fixed,
    }


def target_scale(spec: StudySpec) -> Target:
    """N, D and training FLOPs of one target run, counted on the model itself (as its trial row will be)."""
    from tunescale.trials import parametrization
    from tunescale.trials.models.transformer import transformer_from_config
    from tunescale.trials.train import resolve_config

    cfg = resolve_config(
        {
            **_trainer_fixed(spec),
            "width": spec.target_width,
            "depth": spec.depth,
            "parametrization": spec.parametrization,
            "base_width": min(spec.widths),
            "lr": 1.0,
            "tokens": spec.target_tokens,
        }
    )
    par = parametrization.make(cfg["parametrization"], cfg["width"], cfg["base_width"])
    model = transformer_from_config(cfg, par)
    tokens = float(cfg["steps"] * cfg["tokens_per_step"])
    return Target(
        width=spec.target_width,
        params=int(model.non_embedding_params()),
        tokens=tokens,
        flops=float(model.flops_per_token() * tokens),
    )


@dataclass(frozen=True)
class StudyResult:
    """A finished study: its fit (RUN_DIR/fit.json) and verdict (RUN_DIR/study.json)."""

    run_dir: str
    fit: StudyFit
    verdict: Verdict

    def summary(self) -> dict:
        """The headline numbers, JSON-safe (what `tunescale study --json` prints)."""
        v = self.verdict
        pred = self.fit.prediction
        return {
            "run_dir": self.run_dir,
            "prediction": {
                **{hp: p.law.to_json() for hp, p in pred.hps.items() if p.law is not None},
                "loss": pred.loss.to_json(),
            },
            "target_settings": pred.settings,
            "loss_at_predicted": v.at_predicted.loss if v.at_predicted else None,
            "best_of_grid_loss": v.best_of_grid.loss if v.best_of_grid else None,
            "gap_pct": v.gap_pct,
            "gap_pct_by_hp": {hp: v.gap_pct_of(hp) for hp in v.gridded()},
            "drift_decades": {hp: {str(t): d for t, d in by.items()} for hp, by in v.drift.items()},
            "proxy_flops": v.stages[PROXIES].flops,
            "target_run_flops": v.target_run_flops,
            "compute_ratio": v.compute_ratio,
            "wall_s": v.wall_s,
            "statuses": {stage: dict(t.by_status) for stage, t in v.stages.items()},
        }

    def report(self) -> str:
        """The study as tables: trials per stage, the prediction and its laws, the target runs and the verdict."""
        stages = "; ".join(
            f"{stage} " + ", ".join(f"{n} {status}" for status, n in t.by_status.items())
            for stage, t in self.verdict.stages.items()
        )
        lines = [f"study in {self.run_dir}: {stages}", "", self.fit.report(), "", self.verdict.report()]
        lines += [f"warning: {w}" for w in self.fit.warnings]
        return "\n".join(lines)


def target_grids(settings: dict, multipliers: dict[str, tuple[float, ...]]) -> dict[str, list]:
    """Each hyperparameter's one-at-a-time grid at the target: its predicted setting times each
    multiplier (batch size rounded to whole sequences, duplicates dropped). The predicted settings
    themselves (multiplier 1.0) are trained once, in the first grid; trial ids count positions in
    their sweep, so a later grid holding them would train them again."""
    grids = {}
    for hp, ms in multipliers.items():
        if settings.get(hp) is None:
            continue
        values = [max(1, round(settings[hp] * m)) if hp == "batch_size" else settings[hp] * m for m in ms]
        grids[hp] = [v for v in dict.fromkeys(values) if not grids or v != settings[hp]]
    return {hp: values for hp, values in grids.items() if values}


def _best_of_grid(spec: StudySpec, proxies_dir: Path) -> dict[float, dict]:
    """Per token budget, the (lr, batch size) of the lr x batch-size grid with the lowest mean loss over
    the proxy widths (muP: the optimum transfers across width), where the grid sweeps weight decay (else
    nothing to add); JSON-plain values, so trial ids are stable on resume."""
    if "weight_decay" not in spec.space or spec.search != "grid":
        return {}
    from tunescale.contract.store import read_trials

    df = read_trials(proxies_dir, validated=True)
    df = df[(df["status"] == "completed") & (df["weight_decay"] == spec.wd_centre)]
    step = max(spec.space.get("batch_size", {}).get("values", [spec.fixed.get("batch_size", DEFAULTS["batch_size"])]))
    step *= spec.fixed.get("seq_len", DEFAULTS["seq_len"])
    swept = [hp for hp in ("lr", "batch_size") if hp in spec.space]
    best = {}
    for tokens in spec.token_budgets:
        rows = df[(df["tokens"] >= tokens) & (df["tokens"] < tokens + step)]
        mean = rows.groupby(swept)["loss"].agg(["mean", "size"])
        mean = mean[mean["size"] == len(spec.widths)]  # grid points every width completed
        if len(mean):
            point = mean["mean"].idxmin()
            point = point if isinstance(point, tuple) else (point,)
            best[tokens] = {
                hp: (int(v) if hp == "batch_size" else float(v)) for hp, v in zip(swept, point, strict=True)
            }
    return best


def _proxy_sweeps(spec: StudySpec, run_dir: Path) -> list[tuple[dict, str]]:
    """The first proxy stage as sweep specs with their progress labels, one per token budget, all into one
    store (same sweep name; trial ids differ by their config hash, so each later sweep resumes it): lr x
    batch size on a grid at the centre of the weight-decay grid, or a random or CARBS search of every swept
    hyperparameter together."""
    fixed = _trainer_fixed(spec)
    space = spec.space
    if spec.search == "grid":
        space = {hp: dim for hp, dim in spec.space.items() if hp != "weight_decay"}
        fixed = {**fixed, **({"weight_decay": spec.wd_centre} if spec.wd_centre is not None else {})}
    sweeps = []
    for tokens in spec.token_budgets:
        tag = {TOKEN_BUDGET_TAG: tokens} if spec.search == "carbs" else {}
        raw = _sweep_raw(spec, PROXIES, run_dir / PROXIES, spec.widths, tokens, space, {**fixed, **tag}, spec.search)
        sweeps.append((raw, f"proxies {num(tokens, 3)} tokens"))
    return sweeps


def _stage_specs(spec: StudySpec, source: str, run_dir: Path) -> None:
    """Parse every stage's sweep spec now, so that a bad range or [fixed] key is reported before
    Ray starts or anything is written (the values the fit will choose have stand-ins here)."""
    from tunescale.sweep.spec import parse_spec

    fixed = _trainer_fixed(spec)
    for raw, _ in _proxy_sweeps(spec, run_dir):
        parse_spec(raw, source=f"{source} (proxies)")
    stand_in = {"lr": 1e-3, "batch_size": fixed.get("batch_size", DEFAULTS["batch_size"]), "weight_decay": 0.1}
    if "weight_decay" in spec.space and spec.search == "grid":
        space = {"lr": {"type": "choice", "values": [stand_in["lr"]]}, "weight_decay": spec.space["weight_decay"]}
        parse_spec(
            _sweep_raw(spec, "proxies", run_dir / PROXIES, spec.widths, spec.token_budgets[0], space, fixed),
            source=f"{source} (proxies, weight decay)",
        )
    for hp, values in target_grids(stand_in, spec.multipliers).items():
        parse_spec(
            _sweep_raw(
                spec,
                "target",
                run_dir / TARGET,
                (spec.target_width,),
                spec.target_tokens,
                {hp: {"type": "choice", "values": values}},
                {**fixed, **{k: v for k, v in stand_in.items() if k != hp}},
            ),
            source=f"{source} (target)",
        )


def _holds_work(run_dir: Path) -> bool:
    """Whether a study dir holds anything but what a study that stored no trial leaves (spec.toml, empty stores)."""
    if not run_dir.is_dir():
        return False
    if any(p.name not in ("spec.toml", ELAPSED_JSON, PROXIES, TARGET) for p in run_dir.iterdir()):
        return True
    return any(any((run_dir / stage / "trials").glob("*.parquet")) for stage in (PROXIES, TARGET))


def _elapsed_before(run_dir: Path) -> float:
    """Seconds the study's earlier invocations spent (RUN_DIR/elapsed.json; 0 for a new study)."""
    path = run_dir / ELAPSED_JSON
    if not path.exists():
        return 0.0
    try:
        seconds = json.loads(path.read_text())["wall_s"]
    except (ValueError, TypeError, KeyError):
        seconds = None
    if isinstance(seconds, bool) or not isinstance(seconds, int | float) or not 0 <= seconds < math.inf:
        raise InputError(f'{path}: expected {{"wall_s": seconds >= 0}}; delete it, and the study\'s wall time '
                         f"counts from this run.")
    return float(seconds)


def _check_run_dir(run_dir: Path, spec_text: str, resume: bool) -> None:
    if run_dir.exists() and not run_dir.is_dir():
        raise InputError(f"{run_dir}: is a file; give a directory for --out.")
    if problem := dir_problem(run_dir):
        raise InputError(f"{run_dir}: {problem}; give a directory you can write for --out.")
    if not _holds_work(run_dir):
        return  # nothing to keep: a study that stopped before its first trial can start again here
    saved = run_dir / "spec.toml"
    if saved.is_file() and saved.read_text() != spec_text:
        raise InputError(f"{run_dir}: holds a study with a different spec ({saved}); choose another --out.")
    if not resume and any(run_dir.glob("*")):
        raise InputError(f"{run_dir}: not empty; pass --resume to continue that study, or choose another --out.")


def run_study(
    spec_file: str | os.PathLike,
    *,
    out: str | None = None,
    address: str | None = None,
    resume: bool = False,
    stream: TextIO | None = sys.stderr,
    verbose: bool = False,
) -> StudyResult:
    """Run every stage of the study the spec at `spec_file` describes; see the module doc.

    Progress (a bar per stage on a terminal) goes to `stream`; `verbose` lets Ray print its own output.
    """
    spec = load_study_spec(spec_file)  # every spec problem is reported before anything heavy loads

    from tunescale.study.fit import fit_study
    from tunescale.study.verdict import judge
    from tunescale.sweep.engine import run_sweep
    from tunescale.sweep.ray_local import check_address, ray_session
    from tunescale.sweep.spec import parse_spec

    if address:
        check_address(address)
    spec_text = Path(spec_file).read_text(encoding="utf-8")
    run_dir = Path(out or spec.out)
    _stage_specs(spec, str(spec_file), run_dir)
    _check_run_dir(run_dir, spec_text, resume)
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "spec.toml").write_text(spec_text)
    earlier, start = _elapsed_before(run_dir), time.perf_counter()
    fixed = _trainer_fixed(spec)

    def wall() -> float:
        return earlier + time.perf_counter() - start

    def say(msg: str) -> None:
        if stream is not None:
            print(f"[study] {msg}", file=stream, flush=True)

    def sweep(raw: dict, label: str):
        try:
            return run_sweep(
                parse_spec(raw, source=f"study {label}"), resume=True, out=stream, label=label, verbose=verbose
            )
        finally:  # also when a sweep is interrupted: the time its stored trials took stays counted
            with contextlib.suppress(OSError):  # a full disk must not hide why the sweep ended
                write_json(run_dir / ELAPSED_JSON, {"wall_s": wall()})

    search = f", {spec.search} search of {spec.trials} configurations per width and budget" if spec.trials else ""
    say(
        f"{spec.name}: proxies of width {', '.join(map(str, spec.widths))} at {len(spec.token_budgets)} token "
        f"budgets{search}, then the target at width {spec.target_width} ({spec.concurrency} trials at once)"
    )
    with ray_session(address, num_cpus=None if address else spec.concurrency, verbose=verbose):
        # 1a) proxies at every width, one sweep per token budget: the lr x batch-size grid, or the search
        for raw, label in _proxy_sweeps(spec, run_dir):
            sweep(raw, label)
        # 1b) grid: the rest of the weight-decay grid at each budget's best (lr, batch size), every width
        for tokens, best in _best_of_grid(spec, run_dir / PROXIES).items():
            others = [v for v in spec.space["weight_decay"]["values"] if v != spec.wd_centre]
            space = {
                **{hp: {"type": "choice", "values": [v]} for hp, v in best.items()},
                "weight_decay": {"type": "choice", "values": others},
            }
            sweep(
                _sweep_raw(spec, "proxies", run_dir / PROXIES, spec.widths, tokens, space, fixed),
                f"proxies {num(tokens, 3)} tokens, weight decay",
            )
        # 2) fit and predict
        say(f"fitting the laws ({spec.n_bootstrap} bootstrap resamples)")
        fit = fit_study(run_dir / PROXIES, target_scale(spec), fixed, n_bootstrap=spec.n_bootstrap,
                        width_transfer=spec.parametrization in WIDTH_TRANSFER,
                        method="grid" if spec.search == "grid" else "joint")
        fit.save(run_dir / FIT_JSON)
        settings = {hp: v for hp, v in fit.prediction.settings.items() if v is not None}
        shown = ", ".join(f"{hp} {num(v)}" for hp, v in settings.items())
        say(f"predicted at width {spec.target_width}: {shown}, loss {num(fit.prediction.loss.value)}")
        # 3) target: the predicted settings, and a grid around each hyperparameter with the others at theirs
        for hp, values in target_grids(settings, spec.multipliers).items():
            sweep(
                _sweep_raw(
                    spec,
                    "target",
                    run_dir / TARGET,
                    (spec.target_width,),
                    spec.target_tokens,
                    {hp: {"type": "choice", "values": values}},
                    {**fixed, **{k: v for k, v in settings.items() if k != hp}},
                ),
                f"target width {spec.target_width}, {hp}",
            )
    # 4) verdict, from what the two stores hold
    verdict = judge(run_dir, fit, wall_s=wall())
    verdict.save(run_dir / STUDY_JSON)
    write_json(run_dir / ELAPSED_JSON, {"wall_s": verdict.wall_s})
    return StudyResult(run_dir=str(run_dir), fit=fit, verdict=verdict)
