"""Points where the compensated arguments change the float32 ("fast" tier) result.

Each backend can check that its compiler keeps the low part of a compensated argument
(XLA, Grappler and inductor must not fold ``(t - (t - a))`` or ``e + e·lo`` away)::

    import importlib.util, pathlib
    path = pathlib.Path(__file__).parents[1] / "core" / "compensation_points.py"
    spec = importlib.util.spec_from_file_location("compensation_points", path)
    points = importlib.util.module_from_spec(spec); spec.loader.exec_module(points)
    points.check_low_part_survives(evaluate)   # evaluate(function, quantity, x, params)

At every point the float32-in-float32 evaluation *without* the compensation (rounding βx,
λx, x/√2, v²/2 or the tanh GELU's cubic once) is off by 50 to 150 ULP, and the compensated
one is within the fast tier's bound, so a compiler that drops the low part fails here.
"""

from __future__ import annotations

import numpy as np

from sgblend_spec import mp, spec

#: (function, quantity, x, params): float32 points; the comment gives the uncompensated and
#: compensated errors of the NumPy float32 evaluation, in ULPs (measured against the oracle).
COMPENSATED_FLOAT32 = [
    ("swish", "value", -26.141159057617188, {"beta": 2.75}),  # 63 -> 1
    ("swish", "x", -29.854385375976562, {"beta": 2.75}),  # 60 -> 0
    ("gelu_sigmoid", "value", -37.98612976074219, {}),  # 69 -> 0
    ("gelu_sigmoid", "x", -41.60015869140625, {}),  # 69 -> 3
    ("gelu", "value", -11.58487606048584, {}),  # 143 -> 0
    ("gelu", "x", -12.144771575927734, {}),  # 52 -> 1
    ("gelu_tanh", "value", -8.993587493896484, {}),  # 120 -> 0
    ("gelu_tanh", "x", -9.493759155273438, {}),  # 131 -> 0
    ("lambda_gelu", "value", -4.474575519561768, {"lam": 2.75}),  # 151 -> 0
    ("lambda_gelu", "x", -4.269290447235107, {"lam": 2.75}),  # 112 -> 0
    ("sgblend", "value", -48.676551818847656, {"alpha": 0.5, "beta": 1.75, "gamma": 0.0}),  # 70 -> 0
    ("sgblend", "x", -48.546390533447266, {"alpha": 0.5, "beta": 1.75, "gamma": 0.0}),  # 67 -> 1
]


def ulps(got: float, want: float) -> int:
    a, b = np.array([got, want], dtype=np.float32).view(np.int32).astype(np.int64)
    a, b = (v if v >= 0 else -(v & 0x7FFFFFFF) for v in (a, b))
    return int(abs(a - b))


def check_low_part_survives(evaluate, precision: str = "fast") -> None:
    """``evaluate(function, quantity, x, params)`` -> the float32 result at the float32
    array ``x`` (one element); every point must be within the tier's float32 bound."""
    failures = []
    for function, quantity, x, params in COMPENSATED_FLOAT32:
        got = float(np.asarray(evaluate(function, quantity, np.array([x], dtype=np.float32), dict(params))).ravel()[0])
        want = mp.round_to(mp.evaluate(function, x, params)[quantity][0], "float32")
        error = ulps(got, want)
        if error > spec.ulp_bound(quantity, "float32", precision):
            failures.append(f"{function} {quantity} at x={x!r} {params}: {error} ULP (got {got!r}, oracle {want!r})")
    assert not failures, "the compensation's low part was lost:\n" + "\n".join(failures)
