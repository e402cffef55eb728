"""The STN alternating schedule, and the fixed-hyperparameter run it is compared with.

Recipe (MacKay et al. 2019, Alg. 1; Bae & Grosse 2020 for the centred variant):
  1) warm-up: `warmup_epochs` of train steps only, with hyperparameters drawn around
     their starting values, so the response paths learn something before λ moves;
  2) train step: a training batch, a detached draw ũ per example, every regularizer on;
     the weight optimizer updates general, response and gate weights (never u, s);
  3) hyper step (one per `train_steps_per_hyper` train steps): a held-out batch, a
     reparameterized draw ũ = u + s ⊙ ε, regularizers off, so the held-out loss depends on
     ũ only through the gates; minimise L_val - τ·H(s) in (u, log s) alone.

Compute is counted with `torch.utils.flop_counter.FlopCounterMode` (matmul FLOPs of the
forward and backward passes), measured once per kind of step and multiplied by how
many such steps ran.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch.utils.flop_counter import FlopCounterMode

from tunescale.contract.errors import InputError
from tunescale.trials.stn.hyperparams import HyperParameters, HyperSpec
from tunescale.trials.stn.model import HyperMLP


@dataclass(frozen=True)
class StnConfig:
    """Training knobs of one run. Users mostly change epochs, lr, hyper_lr and tau."""

    hidden: tuple[int, ...] = (256, 256)
    epochs: int = 40
    batch_size: int = 128
    lr: float = 1e-3  # Adam on the weights; the usual default for a small MLP
    hyper_lr: float = 3e-3  # Adam on (u, log s); STN uses a few times lower than the weights' LR
    warmup_epochs: int = 2
    train_steps_per_hyper: int = 2  # STN alternates a few train steps per hyper step
    tau: float = 1e-3  # entropy weight; STN's default range is 1e-3..1e-2
    perturb: str = "example"
    init_scale: float = 0.5
    centred: bool = False
    response_rank: int | None = None
    log_every: int = 0  # train steps between trajectory points; 0 = once per epoch
    seed: int = 0

    def __post_init__(self) -> None:
        positive = ("epochs", "batch_size", "lr", "hyper_lr", "train_steps_per_hyper", "init_scale")
        for name in positive:
            if not getattr(self, name) > 0:
                raise InputError(f"stn config: {name}={getattr(self, name)!r}; expected a value > 0.")
        for name in ("warmup_epochs", "tau", "log_every"):
            if getattr(self, name) < 0:
                raise InputError(f"stn config: {name}={getattr(self, name)!r}; expected a value >= 0.")
        if not self.hidden or any(w <= 0 for w in self.hidden):
            raise InputError(f"stn config: hidden={self.hidden!r}; expected one or more positive widths.")


@dataclass(frozen=True)
class RunResult:
    """What one run (STN or fixed hyperparameters) produced; `summary()` is JSON-safe."""

    status: str  # "completed" or "diverged"
    loss: float  # held-out loss at the end, regularizers off
    train_loss: float  # mean training loss over the last epoch (regularizers on)
    hyperparameters: dict[str, float]
    params: int
    examples_seen: int  # training examples through train steps (the 'tokens' column)
    flops: float  # matmul FLOPs of every forward/backward pass, final evaluation included
    train_steps: int
    hyper_steps: int
    wall_time_s: float
    test_loss: float | None = None  # loss on an extra held-out set, when one was given
    trajectory: list[dict[str, float]] = field(default_factory=list)

    def summary(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if k != "trajectory"}


def _tensors(data: Sequence) -> tuple[torch.Tensor, ...]:
    if len(data) != 4:
        raise InputError(f"data must be (x_train, y_train, x_val, y_val), got {len(data)} items.")
    x_tr, y_tr, x_va, y_va = (torch.as_tensor(a) for a in data)
    return x_tr.float(), y_tr.long(), x_va.float(), y_va.long()


class FlopMeter:
    """Counts each kind of step once under FlopCounterMode, then multiplies."""

    def __init__(self) -> None:
        self.per_call: dict[str, float] = {}
        self.calls: dict[str, int] = {}

    def run(self, kind: str, fn: Callable[[], torch.Tensor]) -> torch.Tensor:
        self.calls[kind] = self.calls.get(kind, 0) + 1
        if kind in self.per_call:
            return fn()
        with FlopCounterMode(display=False) as counter:
            out = fn()
        self.per_call[kind] = float(counter.get_total_flops())
        return out

    def total(self) -> float:
        return sum(self.per_call[k] * n for k, n in self.calls.items())


def _batches(n: int, batch_size: int) -> list[torch.Tensor]:
    """One epoch of shuffled index batches; the ragged tail is dropped so every step costs the same."""
    perm = torch.randperm(n)
    b = min(batch_size, n)
    return [perm[i : i + b] for i in range(0, n - b + 1, b)]


def _eval_loss(model: HyperMLP, x, y, values, h) -> torch.Tensor:
    with torch.no_grad():
        return F.cross_entropy(model(x, values, h, regularize=False), y)


class StnTrainer:
    """One Self-Tuning Network and its two optimizers; `run()` is the whole schedule.

    `train_step` and `hyper_step` are public so the contract can be checked step by step:
    a train step moves the weights and never (u, log s); a hyper step the reverse.
    """

    def __init__(self, data: Sequence, specs: Sequence[HyperSpec], config: StnConfig) -> None:
        torch.manual_seed(config.seed)
        self.config = config
        self.x_tr, self.y_tr, self.x_va, self.y_va = _tensors(data)
        n_classes = int(max(self.y_tr.max(), self.y_va.max())) + 1
        self.hyper = HyperParameters(specs, perturb=config.perturb, init_scale=config.init_scale)
        self.model = HyperMLP(
            self.x_tr.shape[1], config.hidden, n_classes, self.hyper.names,
            stn=True, centred=config.centred, response_rank=config.response_rank,
        )
        self.weight_opt = torch.optim.Adam(self.model.parameters(), lr=config.lr)
        self.hyper_opt = torch.optim.Adam(self.hyper.parameters(), lr=config.hyper_lr)
        self.meter = FlopMeter()

    def gate_input(self, u_tilde: torch.Tensor) -> torch.Tensor:
        """What the gates see: ũ itself (STN) or the perturbation ũ - u (Delta-STN)."""
        return u_tilde - self.hyper.u.detach() if self.config.centred else u_tilde

    def train_step(self, idx: torch.Tensor) -> float:
        """Weights only: a training batch, detached per-example draws, regularizers on."""

        def forward_backward() -> torch.Tensor:
            u_tilde = self.hyper.sample(len(idx), grad=False)
            values, h = self.hyper.constrain(u_tilde), self.gate_input(u_tilde)
            loss = F.cross_entropy(self.model(self.x_tr[idx], values, h, regularize=True), self.y_tr[idx])
            self.weight_opt.zero_grad(set_to_none=True)
            loss.backward()
            return loss.detach()

        loss = self.meter.run("train", forward_backward)
        self.weight_opt.step()
        return float(loss)

    def hyper_step(self, idx: torch.Tensor) -> float:
        """(u, log s) only: a held-out batch, reparameterized draws, regularizers off."""

        def forward_backward() -> torch.Tensor:
            u_tilde = self.hyper.sample(len(idx), grad=True)
            values, h = self.hyper.constrain(u_tilde), self.gate_input(u_tilde)
            val_loss = F.cross_entropy(self.model(self.x_va[idx], values, h, regularize=False), self.y_va[idx])
            objective = val_loss - self.config.tau * self.hyper.entropy()
            # autograd.grad, not backward(): the weights' .grad stay untouched.
            self.hyper.u.grad, self.hyper.log_scale.grad = torch.autograd.grad(
                objective, [self.hyper.u, self.hyper.log_scale]
            )
            return val_loss.detach()

        loss = self.meter.run("hyper", forward_backward)
        self.hyper_opt.step()
        return float(loss)

    def loss_on(self, x: torch.Tensor, y: torch.Tensor) -> float:
        """Loss at the current hyperparameters, regularizers off (no FLOP count)."""
        u_now = self.hyper.current(len(x))
        with torch.no_grad():
            logits = self.model(x, self.hyper.constrain(u_now), self.gate_input(u_now), regularize=False)
            return float(F.cross_entropy(logits, y))

    def run(
        self,
        *,
        on_log: Callable[[dict[str, float]], None] | None = None,
        test: Sequence | None = None,
    ) -> RunResult:
        """The alternating schedule of the module docstring, then the final held-out loss.

        `test` = (x, y), if given, is scored once at the end (outside the FLOP count): a
        held-out set the hyper steps never saw.
        """
        start = time.perf_counter()
        config, hyper = self.config, self.hyper
        trajectory: list[dict[str, float]] = []
        recent: list[float] = []
        recent_val: list[float] = []
        epoch_losses: list[float] = []
        val_batches: list[torch.Tensor] = []
        step = hyper_steps = examples = 0
        status = "completed"

        def log() -> None:
            # The trajectory's held-out loss is the mean of the hyper steps' batch losses
            # since the last point: free, where a full evaluation per point would cost more
            # than the hyper steps themselves. NaN during warm-up, when no hyper step runs.
            point = {
                "step": step,
                "examples": examples,
                "train_loss": sum(recent) / len(recent) if recent else math.nan,
                "val_loss": sum(recent_val) / len(recent_val) if recent_val else math.nan,
            }
            point.update({f"hp/{k}": v for k, v in hyper.values().items()})
            point.update({f"scale/{k}": v for k, v in hyper.scales().items()})
            trajectory.append(point)
            recent.clear()
            recent_val.clear()
            if on_log is not None:
                on_log(point)

        log()
        for epoch in range(config.epochs):
            epoch_losses = []
            batches = _batches(len(self.x_tr), config.batch_size)
            log_every = config.log_every or len(batches)
            for idx in batches:
                loss = self.train_step(idx)
                step += 1
                examples += len(idx)
                if not math.isfinite(loss):
                    status = "diverged"
                    break
                recent.append(loss)
                epoch_losses.append(loss)
                if epoch >= config.warmup_epochs and step % config.train_steps_per_hyper == 0:
                    if not val_batches:
                        val_batches = _batches(len(self.x_va), config.batch_size)
                    recent_val.append(self.hyper_step(val_batches.pop()))
                    hyper_steps += 1
                if step % log_every == 0:
                    log()
            if status != "completed":
                break

        final = float(self.meter.run("eval", lambda: torch.tensor(self.loss_on(self.x_va, self.y_va))))
        if not math.isfinite(final):
            status = "diverged"
        test_loss = None
        if test is not None:
            x_te, y_te = (torch.as_tensor(a) for a in test)
            test_loss = self.loss_on(x_te.float(), y_te.long())
        return RunResult(
            status=status,
            loss=final,
            train_loss=sum(epoch_losses) / len(epoch_losses) if epoch_losses else math.nan,
            hyperparameters=hyper.values(),
            params=sum(p.numel() for p in self.model.parameters()),
            examples_seen=examples,
            flops=self.meter.total(),
            train_steps=step,
            hyper_steps=hyper_steps,
            wall_time_s=time.perf_counter() - start,
            test_loss=test_loss,
            trajectory=trajectory,
        )


def fit_stn(
    data: Sequence,
    specs: Sequence[HyperSpec],
    config: StnConfig,
    *,
    on_log: Callable[[dict[str, float]], None] | None = None,
    test: Sequence | None = None,
) -> RunResult:
    """Train one Self-Tuning Network on (x_train, y_train, x_val, y_val); tune `specs` online."""
    return StnTrainer(data, specs, config).run(on_log=on_log, test=test)


def fit_fixed(
    data: Sequence,
    specs: Sequence[HyperSpec],
    values: Mapping[str, float],
    config: StnConfig,
    *,
    test: Sequence | None = None,
) -> RunResult:
    """Train the plain MLP (no response paths) with hyperparameters held at `values`.

    One trial of the random-search baseline: same data order rules, regularizers,
    optimizer and epochs as `fit_stn`, no hyper steps.
    """
    start = time.perf_counter()
    torch.manual_seed(config.seed)
    x_tr, y_tr, x_va, y_va = _tensors(data)
    n_classes = int(max(y_tr.max(), y_va.max())) + 1
    hyper = HyperParameters(specs)
    model = HyperMLP(x_tr.shape[1], config.hidden, n_classes, hyper.names, stn=False)
    opt = torch.optim.Adam(model.parameters(), lr=config.lr)
    meter = FlopMeter()

    def train_step(idx: torch.Tensor) -> torch.Tensor:
        logits = model(x_tr[idx], hyper.fixed(values, len(idx)), None, regularize=True)
        loss = F.cross_entropy(logits, y_tr[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        return loss

    step = examples = 0
    status = "completed"
    epoch_losses: list[float] = []
    for _ in range(config.epochs):
        epoch_losses = []
        for idx in _batches(len(x_tr), config.batch_size):
            loss = float(meter.run("train", lambda idx=idx: train_step(idx)).detach())
            opt.step()
            step += 1
            examples += len(idx)
            if not math.isfinite(loss):
                status = "diverged"
                break
            epoch_losses.append(loss)
        if status != "completed":
            break
    final = float(meter.run("eval", lambda: _eval_loss(
        model, x_va, y_va, hyper.fixed(values, len(x_va)), None)))
    if not math.isfinite(final):
        status = "diverged"
    test_loss = None
    if test is not None:
        x_te, y_te = (torch.as_tensor(a) for a in test)
        test_loss = float(_eval_loss(
            model, x_te.float(), y_te.long(), hyper.fixed(values, len(x_te)), None))
    return RunResult(
        status=status,
        loss=final,
        train_loss=sum(epoch_losses) / len(epoch_losses) if epoch_losses else math.nan,
        hyperparameters={n: float(v) for n, v in zip(hyper.names, hyper.fixed(values, 1)[0].tolist(), strict=True)},
        params=sum(p.numel() for p in model.parameters()),
        examples_seen=examples,
        flops=meter.total(),
        train_steps=step,
        hyper_steps=0,
        wall_time_s=time.perf_counter() - start,
        test_loss=test_loss,
    )
