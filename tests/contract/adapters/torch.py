"""The PyTorch adapter (torch is imported when the adapter is built)."""

from __future__ import annotations

import math
from types import SimpleNamespace

import ml_dtypes
import numpy as np

from . import LEARNABLE, TARGET, Adapter, check_options, normal_quantiles


class TorchAdapter(Adapter):
    name = "torch"
    channel_axis = 1  # the modules' per-channel parameters broadcast along dim 1 (NCHW)
    has_strides = True
    # torch keeps float64 subnormals: the tail is checked down to -745
    tail_points = {**Adapter.tail_points, "float64": [-700.0, -705.0, -708.0, -709.0, -745.0]}
    threads_need_two_cpus = False  # intra-op threads are set in-process, on any CPU count

    def __init__(self):
        super().__init__()
        import torch

        self.torch = torch

    def set_threads(self, n):
        self.torch.set_num_threads(n)
        self.api.COMPILE = False  # the eager kernels; tests/torch checks the compiled ones

    def setup(self, monkeypatch):
        # Unit tests run the eager kernels (compiling costs seconds per function on a 2-core runner).
        monkeypatch.setattr(self.api, "COMPILE", False)

    # ----------------------------------------------------------------- arrays and functions
    def native(self, values):
        return self.torch.tensor(values)

    def from_numpy(self, a):
        if a.dtype == ml_dtypes.bfloat16:
            return self.torch.from_numpy(a.view(np.int16)).view(self.torch.bfloat16)
        return self.torch.from_numpy(a)

    def to_numpy(self, t):
        t = t.detach().cpu().contiguous()
        if t.dtype == self.torch.bfloat16:
            return t.view(self.torch.int16).numpy().view(ml_dtypes.bfloat16)
        return t.numpy()

    def is_native(self, t):
        return isinstance(t, self.torch.Tensor)

    def value_and_grads(self, name, x, params, jit=False):
        torch = self.torch
        x = x.detach().clone().requires_grad_()
        leaves = {k: v.detach().clone().requires_grad_() if isinstance(v, torch.Tensor) else v
                  for k, v in params.items()}
        y = getattr(self.api, name)(x, **leaves)
        inputs = [x] + [v for v in leaves.values() if isinstance(v, torch.Tensor)]
        return [self.to_numpy(t) for t in (y, *torch.autograd.grad(y.sum(), inputs))]

    compilers = ("eager", "compiled kernels")

    def compiled(self, compiler, function, quantity, x, params, precision):
        torch = self.torch
        self.api.COMPILE = compiler == "compiled kernels"
        previous, self.api.COMPILE_MIN_NUMEL = self.api.COMPILE_MIN_NUMEL, 0
        background, self.api.BUILD_IN_BACKGROUND = self.api.BUILD_IN_BACKGROUND, False  # these kernels, now
        try:
            x = torch.from_numpy(x).requires_grad_()
            leaves = {k: torch.tensor(v, dtype=x.dtype, requires_grad=True) for k, v in params.items()}
            y = getattr(self.api, function)(x, **leaves, precision=precision)
            if quantity == "value":
                return y.detach().numpy()
            if quantity == "dxx":  # elementwise: the x-gradient of the sum of x-gradients
                (dx,) = torch.autograd.grad(y, x, torch.ones_like(y), create_graph=True)
                return torch.autograd.grad(dx, x, torch.ones_like(dx))[0].detach().numpy()
            weight = torch.zeros_like(y)
            weight.view(-1)[0] = 1
            if quantity == "x":
                weight = torch.ones_like(y)
            (grad,) = torch.autograd.grad(y, x if quantity == "x" else leaves[quantity], weight)
            return grad.numpy()
        finally:
            self.api.COMPILE, self.api.COMPILE_MIN_NUMEL = False, previous
            self.api.BUILD_IN_BACKGROUND = background

    def transpose(self, x):
        return x.t()

    def broadcast_to(self, x, shape):
        return x.expand(*shape)

    def is_contiguous(self, x):
        return x.is_contiguous()

    def contiguous(self, x):
        return x.contiguous()

    # ----------------------------------------------------------------- layers
    def dtype_error(self, dtype):
        return "dtype"

    def layer(self, cls, channels=None, **kwargs):
        check_options(cls, kwargs, {"alpha", "beta", "gamma", "lam", "gelu"} | (
            set() if cls in ("Swish", "GELU") else {"dtype"}))  # the baselines have no parameter dtype
        if "dtype" in kwargs:
            kwargs["dtype"] = getattr(self.torch, kwargs["dtype"])
        if channels is not None:
            kwargs["num_parameters"] = channels
        return getattr(self.api, cls)(**kwargs)

    def assign(self, layer, raw, values):
        parameter = getattr(layer, raw)
        with self.torch.no_grad():
            parameter.copy_(self.torch.tensor(values, dtype=parameter.dtype).reshape(parameter.shape))

    #: Modules check their parameters where they change (construction, loading, the
    #: register_constraints step hook, check_parameters_()), not in forward (no host read).
    layers_check_at_call = False

    def check_layer(self, layer):
        layer.check_parameters_()

    def call_layer(self, layer, x):
        with self.torch.no_grad():
            return self.to_numpy(layer(x))

    def checkpoint(self, layer, tmp_path):
        target = self.api.SGBlend(beta=1.0)
        target.load_state_dict(layer.state_dict())
        return (lambda x: self.call_layer(target, x)), {k: self.to_numpy(v) for k, v in target.state_dict().items()}

    def stress_train(self, key, optimizer, steps):
        torch, nn = self.torch, self.torch.nn
        cls, kwargs = LEARNABLE[key]
        torch.manual_seed(9)
        activation = self.layer(cls, **kwargs)
        model = nn.Sequential(nn.Linear(8, 16), activation, nn.Linear(16, 4))
        x = torch.randn(64, 8) * 3
        labels = torch.randint(0, 4, (64,))
        opt = (torch.optim.Adam(model.parameters(), lr=1.0) if optimizer == "adam-lr1"
               else torch.optim.SGD(model.parameters(), lr=10.0))
        self.api.register_constraints(opt, model)
        trace = []
        for _ in range(steps):
            opt.zero_grad()
            out = model(x)
            finite = bool(torch.isfinite(out).all())
            nn.functional.cross_entropy(out, labels).backward()
            if optimizer == "sgd-lr10":
                nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            values = {raw: self.to_numpy(v) for raw, v in activation.named_parameters()}
            if cls == "LambdaGELU":
                values["lam"] = self.to_numpy(activation.lam)
            trace.append((finite, values))
        return trace, bool(torch.isfinite(model(x)).all())

    # ----------------------------------------------------------------- recipe
    def _mlp(self, seed, width=32):
        nn = self.torch.nn
        self.torch.manual_seed(seed)
        return nn.Sequential(nn.Linear(2, width), self.api.LambdaGELU(), nn.Linear(width, width),
                             self.api.LambdaGELU(), nn.Linear(width, 1)).double()

    def hardening_schedule(self, lam_target, ramp_steps, start_step=0):
        return self.api.HardeningSchedule(self._mlp(0), lam_target=lam_target, ramp_steps=ramp_steps,
                                          start_step=start_step)

    def lambda_update(self, preactivation_std):
        model = self._mlp(0)
        optimizer = self.torch.optim.SGD(model.parameters(), lr=0.1)
        return self.api.register_lambda_update(optimizer, model, preactivation_std=preactivation_std)

    def sgd_step_log_lambda(self, lams, rule):
        torch = self.torch
        act = self.api.LambdaGELU(num_parameters=len(lams), dtype=torch.float64)
        with torch.no_grad():
            act.rho.copy_(torch.tensor([math.sqrt(lam - 1) for lam in lams]))
        x = torch.from_numpy(normal_quantiles(len(lams)))
        optimizer = torch.optim.SGD([act.rho], lr=1e-3)
        if rule:
            self.api.register_lambda_update(optimizer, act)
        before = torch.log(act.lam.detach() - 1)
        (-act(x).mean(0).sum()).backward()
        optimizer.step()
        return (torch.log(act.lam.detach() - 1) - before).numpy()

    def _train(self, model, steps, schedule_args=None):
        torch = self.torch
        g = torch.Generator().manual_seed(0)
        x = torch.rand(512, 2, generator=g, dtype=torch.float64) * 4 - 2
        y = torch.sin(2 * x[:, :1]) * torch.cos(x[:, 1:]) + 0.3 * x[:, :1]
        optimizer = torch.optim.Adam(self.api.lambda_parameter_groups(model), lr=1e-2)
        schedule = self.api.HardeningSchedule(model, *schedule_args) if schedule_args else None
        for step in range(steps):
            batch = slice((step * 64) % 512, (step * 64) % 512 + 64)
            optimizer.zero_grad()
            loss = torch.nn.functional.mse_loss(model(x[batch]), y[batch])
            loss.backward()
            optimizer.step()
            if schedule is not None:
                schedule.step()
        return float(loss.detach())

    def relu_substitution(self):
        torch = self.torch
        g = torch.Generator().manual_seed(99)
        probe = torch.rand(2000, 2, generator=g, dtype=torch.float64) * 4 - 2
        runs = []
        for schedule in (None, (TARGET, 120, 60)):
            model = self._mlp(5)
            loss = self._train(model, 240, schedule)
            _, report = self.api.replace_lambda_gelu_with_relu(model, probe)
            runs.append(SimpleNamespace(loss=loss, max_abs_change=report.max_abs_change,
                                        relative_change=report.relative_change, unit_bound=report.unit_bound))
        return runs[0], runs[1], 1e-12
