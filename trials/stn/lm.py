"""A Self-Tuning-Network run of the transformer proxy as a sweep trial: `train_stn_trial`.

`train_stn_trial(config, on_eval=...)` has the `trials.train.train_trial` contract, so a
sweep runs it as any other trainable (`algorithm = "stn"` makes it the default). The
config is the trainer's (`trials.defaults.DEFAULTS`) plus `STN_DEFAULTS`.

Variants (`stn_variant`):
    stn         MacKay et al. 2019: gates see ũ, with a bias
    centred     Delta-STN's centred parametrization: gates see ũ - u, no bias, so at the
                current hyperparameters the general weights alone are the best response
    linearized  centred, and the network output is Delta-STN's first-order expansion in
                the response, f(w0) + J_w f · ΔW(ũ - u), the Jacobian-vector product
                taken with `torch.func.jvp` (Bae & Grosse 2020, sec. 4.2); in train and
                hyper steps alike
    fixed       the plain proxy with every regularizer held at its config value: one
                trial of a random or TPE search over the same knobs, same loop

Recipe of one STN run (the schedule of `trials.stn.trainer`, in steps, not epochs):
  1) seed, build the plain proxy with its parametrization, add the response paths;
  2) train step: a training batch, a detached draw ũ per example, regularizers on,
     AdamW on the weights with the trainer's LR schedule and gradient clipping;
  3) hyper step (every `stn_steps_per_hyper` train steps after `stn_warmup_frac` of
     the run): a batch of the held-out half, a reparameterized draw, regularizers off,
     Adam on (u, log s) for L_val - τ·H(s);
  4) every `eval_every` steps the held-out loss at the current u (what `on_eval` sees).

Held-out data: the corpus's validation split is halved. The first half drives the hyper
steps and the row's `loss` (what a search selects on); the second half, which neither
STN nor a search sees, gives the `test_loss` curve point at the last step (a result, so not
an `hp_` column, which fit-scaling reads as a setting). `train_bytes` caps the training split so a
small proxy overfits within a short run.

Weight decay is not tuned here: the proxy's decay is decoupled (AdamW, p -= lr·λ·p after
the gradient), so it never enters the training loss whose best response the response
paths learn; an STN could tune an L2 penalty inside the loss, which under Adam is a
different regularizer (Loshchilov & Hutter 2019), and the weights' response to λ builds
up over the decay timescale 1/(lr·λ), longer than a proxy run, so a per-step
best-response approximation has nothing to fit.

Compute (`flops`) is measured with `torch.utils.flop_counter.FlopCounterMode`, each
kind of step once, as in `trials.stn.trainer`, for every variant alike.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from typing import Any

import torch
from torch.func import jvp

from tunescale.contract.errors import InputError
from tunescale.contract.schema import TUNED_START_SUFFIX
from tunescale.trials import parametrization
from tunescale.trials.models.transformer import transformer_from_config
from tunescale.trials.stn.hyperparams import HyperParameters, HyperSpec
from tunescale.trials.stn.trainer import FlopMeter
from tunescale.trials.stn.transformer import TRANSFORMER_HYPERS, HyperTransformer, smoothed_loss
from tunescale.trials.train import TrialOutcome, _hp_columns, lr_factor, resolve_config

VARIANTS = ("stn", "centred", "linearized", "fixed")
# Ranges of the tuned values: rates above 0.8 leave too little signal in a tiny proxy;
# label smoothing above 0.5 puts more mass on the wrong bytes than on the right one.
RANGES = {"emb_dropout": (0.0, 0.8), "attn_dropout": (0.0, 0.8), "resid_dropout": (0.0, 0.8),
          "label_smoothing": (0.0, 0.5)}
STN_DEFAULTS: dict[str, Any] = {
    "stn_variant": "linearized",
    "stn_tune": ",".join(TRANSFORMER_HYPERS),  # comma-separated names of the tuned knobs
    "stn_hyper_lr": 0.03,  # Adam on (u, log s)
    "stn_tau": 1e-3,  # entropy weight; MacKay et al. use 1e-3..1e-2
    "stn_steps_per_hyper": 4,  # train steps per hyper step: a hyper step costs about one train step
    "stn_warmup_frac": 0.2,  # share of the run before the first hyper step
    "stn_init_scale": 0.5,  # starting perturbation scale s, in the unconstrained space
    "train_bytes": None,  # None: the whole training split
    # Values of the regularizers: where an STN starts, or what a fixed run holds.
    "emb_dropout": 0.05,
    "attn_dropout": 0.05,
    "resid_dropout": 0.05,
    "label_smoothing": 0.05,
}


def resolve_stn(config: Mapping[str, Any]) -> tuple[dict, dict]:
    """(trainer config resolved by `resolve_config`, STN settings with defaults), both checked."""
    stn = {**STN_DEFAULTS, **{k: v for k, v in config.items() if k in STN_DEFAULTS}}
    cfg = resolve_config({k: v for k, v in config.items() if k not in STN_DEFAULTS})
    if cfg["model"] != "transformer":
        raise InputError(f"trial config 'model' = {cfg['model']!r}; STN trials train the transformer proxy.")
    if stn["stn_variant"] not in VARIANTS:
        raise InputError(f"trial config 'stn_variant' = {stn['stn_variant']!r}; expected one of {', '.join(VARIANTS)}.")
    tuned = [n.strip() for n in str(stn["stn_tune"]).split(",") if n.strip()]
    unknown = [n for n in tuned if n not in RANGES]
    if unknown or not tuned:
        raise InputError(f"trial config 'stn_tune' = {stn['stn_tune']!r}; expected comma-separated names "
                         f"from {', '.join(TRANSFORMER_HYPERS)}.")
    stn["tuned"] = tuned
    for name, (low, high) in RANGES.items():
        value = stn[name]
        inside = low < value < high if stn["stn_variant"] != "fixed" and name in tuned else low <= value <= high
        if not isinstance(value, int | float) or not inside:
            raise InputError(f"trial config {name!r} = {value!r}; expected a value in [{low}, {high}] "
                             f"(strictly inside when an STN tunes it).")
    for key in ("stn_hyper_lr", "stn_steps_per_hyper", "stn_init_scale"):
        if not stn[key] > 0:
            raise InputError(f"trial config {key!r} = {stn[key]!r}; expected a value > 0.")
    if stn["stn_tau"] < 0 or not 0 <= stn["stn_warmup_frac"] < 1:
        raise InputError("trial config 'stn_tau' must be >= 0 and 'stn_warmup_frac' in [0, 1).")
    return cfg, stn


def _data(cfg: Mapping[str, Any], stn: Mapping[str, Any]):
    """(train batches, held-out batches for hyper steps, fixed eval batches, fixed test batches)."""
    from tunescale.trials.data.corpus import EVAL_SEED, TokenBatches, load_corpus

    corpus = load_corpus(cfg["cache_dir"])
    train = corpus.train if stn["train_bytes"] is None else corpus.train[: int(stn["train_bytes"])]
    half = len(corpus.val) // 2
    val, test = corpus.val[:half], corpus.val[half:]
    seq, batch = cfg["seq_len"], cfg["batch_size"]
    return (
        TokenBatches(train, seq, batch, cfg["seed"]),
        TokenBatches(val, seq, batch, cfg["seed"] + 1),
        TokenBatches(val, seq, batch, EVAL_SEED).fixed(cfg["eval_batches"]),
        TokenBatches(test, seq, batch, EVAL_SEED).fixed(cfg["eval_batches"]),
    )


class LmStn:
    """The proxy, its hyperparameters and two optimizers; `train_step` / `hyper_step` / `loss_on`."""

    def __init__(self, cfg: Mapping[str, Any], stn: Mapping[str, Any], device: torch.device) -> None:

        self.cfg, self.stn, self.device = cfg, stn, device
        self.variant = stn["stn_variant"]
        par = parametrization.make(cfg["parametrization"], cfg["width"], cfg["base_width"])
        torch.manual_seed(cfg["seed"])
        plain = transformer_from_config(cfg, par)
        self.tuned = stn["tuned"] if self.variant != "fixed" else []
        self.model = HyperTransformer(plain, par, len(self.tuned), stn=self.variant != "fixed",
                                      centred=self.variant != "stn").to(device)
        self.hyper = None
        if self.tuned:
            specs = [HyperSpec(n, *RANGES[n], float(stn[n])) for n in self.tuned]
            self.hyper = HyperParameters(specs, init_scale=stn["stn_init_scale"]).to(device)
            self.hyper_opt = torch.optim.Adam(self.hyper.parameters(), lr=stn["stn_hyper_lr"])
        self.tuned_cols = [TRANSFORMER_HYPERS.index(n) for n in self.tuned]
        self.fixed_row = torch.tensor([float(stn[n]) for n in TRANSFORMER_HYPERS], device=device)
        groups = parametrization.param_groups(self.model, par, lr=cfg["lr"], optimizer=cfg["optimizer"],
                                              weight_decay=cfg["weight_decay"], wd_mode=cfg["wd_mode"],
                                              wd_scaling=cfg["wd_scaling"])
        if cfg["optimizer"] == "adamw":
            self.opt = torch.optim.AdamW(groups, lr=cfg["lr"], betas=tuple(cfg["betas"]), eps=cfg["eps"])
        else:
            self.opt = torch.optim.SGD(groups, lr=cfg["lr"], momentum=cfg["momentum"])
        self.sched = torch.optim.lr_scheduler.LambdaLR(self.opt, lambda step: lr_factor(step, cfg))
        self.meter = FlopMeter()

    def _values_and_gate(self, u_tilde: torch.Tensor | None, batch: int):
        """(values (B, 4), gate input or None) for a draw ũ (None: the current u)."""
        values = self.fixed_row.expand(batch, -1)
        if self.hyper is None:
            return values, None
        if u_tilde is None:
            u_tilde = self.hyper.current(batch)
        values = values.clone()
        values[:, self.tuned_cols] = self.hyper.constrain(u_tilde)
        if self.variant == "stn":
            return values, u_tilde
        h = u_tilde - self.hyper.u.detach()
        return values, h

    def _logits(self, x: torch.Tensor, values, h, *, regularize: bool) -> torch.Tensor:
        if self.variant != "linearized" or h is None:
            return self.model(x, values, h, regularize=regularize)

        def forward(t: torch.Tensor) -> torch.Tensor:
            return self.model(x, values, h, regularize=regularize, t=t, manual_attention=True)

        zero = torch.zeros((), device=x.device)
        out, tangent = jvp(forward, (zero,), (torch.ones_like(zero),))
        return out + tangent

    def train_step(self, x: torch.Tensor, y: torch.Tensor) -> float:
        def forward_backward() -> torch.Tensor:
            u_tilde = self.hyper.sample(len(x), grad=False) if self.hyper is not None else None
            values, h = self._values_and_gate(u_tilde, len(x))
            logits = self._logits(x, values, h, regularize=True)
            loss = smoothed_loss(logits, y, values[:, TRANSFORMER_HYPERS.index("label_smoothing")])
            self.opt.zero_grad(set_to_none=True)
            loss.backward()
            return loss.detach()

        loss = self.meter.run("train", forward_backward)
        if self.cfg["grad_clip"]:
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.cfg["grad_clip"])
        self.opt.step()
        self.sched.step()
        return float(loss)

    def hyper_step(self, x: torch.Tensor, y: torch.Tensor) -> float:
        def forward_backward() -> torch.Tensor:
            u_tilde = self.hyper.sample(len(x), grad=True)
            values, h = self._values_and_gate(u_tilde, len(x))
            val_loss = smoothed_loss(self._logits(x, values, h, regularize=False), y, None)
            objective = val_loss - self.stn["stn_tau"] * self.hyper.entropy()
            # autograd.grad, not backward(): the weights' .grad stay untouched.
            self.hyper.u.grad, self.hyper.log_scale.grad = torch.autograd.grad(
                objective, [self.hyper.u, self.hyper.log_scale])
            return val_loss.detach()

        loss = self.meter.run("hyper", forward_backward)
        self.hyper_opt.step()
        return float(loss)

    @torch.no_grad()
    def loss_on(self, batches, kind: str | None = "eval") -> float:
        """Mean held-out loss at the current u, regularizers off; counted as `kind` (None: not counted)."""
        total = count = 0.0
        for x, y in batches:
            x, y = x.to(self.device), y.to(self.device)
            values, h = self._values_and_gate(None, len(x))
            # Centred variants: at the current u the gate input is 0, the response path is exactly 0.
            h = None if self.variant != "stn" else h

            def loss(x=x, y=y, values=values, h=h) -> torch.Tensor:
                return smoothed_loss(self.model(x, values, h, regularize=False), y, None)

            value = self.meter.run(kind, loss) if kind else loss()
            total += float(value) * y.numel()
            count += y.numel()
        return total / count

    def values(self) -> dict[str, float]:
        return self.hyper.values() if self.hyper is not None else {}


def train_stn_trial(
    config: Mapping[str, Any], *, on_eval: Callable[[dict], bool | None] | None = None
) -> TrialOutcome:
    """Train one STN (or fixed-regularizer) run of the transformer proxy; see the module doc."""
    from tunescale.trials.train import _device

    cfg, stn = resolve_stn(config)
    device = _device(cfg["device"])
    start = time.perf_counter()
    run = LmStn(cfg, stn, device)
    train, heldout, eval_set, test_set = _data(cfg, stn)
    warmup = int(stn["stn_warmup_frac"] * cfg["steps"])
    curves: list[dict] = []
    status, first_loss, eval_loss, train_loss = "completed", None, math.nan, math.nan
    window: list[float] = []
    val_window: list[float] = []
    hyper_steps = step = 0

    def log_hypers(tokens: float) -> None:
        for name, value in run.values().items():
            curves.append(_point(step, tokens, f"hp/{name}", value))
        if run.hyper is not None:
            for name, value in run.hyper.scales().items():
                curves.append(_point(step, tokens, f"hp_scale/{name}", value))

    log_hypers(0.0)
    while step < cfg["steps"]:
        x, y = (t.to(device) for t in train.next())
        value = run.train_step(x, y)
        step += 1
        tokens = float(step * cfg["tokens_per_step"])
        first_loss = value if first_loss is None else first_loss
        if not math.isfinite(value) or value > cfg["diverge_factor"] * first_loss:
            status, train_loss = "diverged", value
            curves.append(_point(step, tokens, "train_loss", value))
            break
        window.append(value)
        if run.hyper is not None and step > warmup and step % stn["stn_steps_per_hyper"] == 0:
            val_window.append(run.hyper_step(*(t.to(device) for t in heldout.next())))
            hyper_steps += 1
        if step % cfg["log_every"] == 0 or step == cfg["steps"]:
            curves.append(_point(step, tokens, "train_loss", value))
            curves.append(_point(step, tokens, "lr", cfg["lr"] * lr_factor(step - 1, cfg)))
        if step % cfg["eval_every"] == 0 or step == cfg["steps"]:
            train_loss = sum(window) / len(window)
            window = []
            eval_loss = run.loss_on(eval_set)
            curves.append(_point(step, tokens, "eval_loss", eval_loss))
            if val_window:
                curves.append(_point(step, tokens, "val_loss", sum(val_window) / len(val_window)))
                val_window = []
            log_hypers(tokens)
            metrics = {"step": step, "tokens": tokens, "flops": run.meter.total(), "train_loss": train_loss,
                       "eval_loss": eval_loss}
            stop = on_eval is not None and on_eval(metrics)
            if not math.isfinite(eval_loss):
                status = "diverged"
                break
            if stop and step < cfg["steps"]:
                status = "pruned"
                break
    finals = run.values()
    if status == "completed":
        curves.append(_point(step, tokens, "test_loss", run.loss_on(test_set, kind=None)))
    row = {
        "status": status,
        "params": run.model.plain.non_embedding_params(),
        "tokens": float(step * cfg["tokens_per_step"]),
        "flops": run.meter.total(),
        "width": cfg["width"],
        "depth": cfg["depth"],
        "parametrization": cfg["parametrization"],
        "lr": float(cfg["lr"]),
        "batch_size": cfg["batch_size"],
        "weight_decay": float(cfg["weight_decay"]),
        "loss": eval_loss if status == "completed" else math.nan,
        "train_loss": train_loss,
        "seed": cfg["seed"],
        "wall_time_s": time.perf_counter() - start,
        **_hp_columns(cfg, step, device),
        **{f"hp_{k}": v for k, v in stn.items() if k != "tuned"},
        "hp_algorithm": "stn" if run.hyper is not None else "fixed",
        "hp_hyper_steps": hyper_steps,
        **{f"hp_{k}{TUNED_START_SUFFIX}": float(stn[k]) for k in finals},
        **{f"hp_{k}": v for k, v in finals.items()},
    }
    return TrialOutcome(row=row, curves=curves)


def _point(step: int, tokens: float, metric: str, value: float) -> dict:
    return {"step": step, "tokens": float(tokens), "metric": metric, "value": float(value)}
