"""Did the messages make a difference? Conversion of those messaged against the holdout, with its doubt.

The uplift is the difference of two proportions, p_treated - p_holdout. Its 95% interval is
Newcombe's hybrid score interval (method 10 of Newcombe 1998), built from each group's Wilson score
interval: unlike the textbook Wald interval it stays inside [-1, 1] and keeps close to its stated
coverage with the small counts and rates near 0 a young campaign has. The p-value is the two-sided
two-proportion z-test with the pooled proportion. Both assume independent customers, each counted
once per entry.
"""
from __future__ import annotations

import math

Z95 = 1.959963984540054
TEST = ("difference of two proportions: 95% Newcombe hybrid score interval (from Wilson intervals), "
        "two-sided two-proportion z-test")


def wilson(converted: int, n: int, z: float = Z95) -> tuple[float, float]:
    if n == 0:
        return 0.0, 1.0
    p = converted / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def compare(treated: tuple[int, int], holdout: tuple[int, int]) -> dict:
    """treated and holdout: (converted, entered). Rates, uplift and its interval are fractions;
    None where a group has no one yet."""
    (c1, n1), (c2, n2) = treated, holdout
    out = {"treated": {"entered": n1, "converted": c1, "rate": c1 / n1 if n1 else None},
           "holdout": {"entered": n2, "converted": c2, "rate": c2 / n2 if n2 else None},
           "uplift": None, "relative": None, "interval": None, "p_value": None, "test": TEST}
    if not (n1 and n2):
        return out
    p1, p2 = c1 / n1, c2 / n2
    l1, u1 = wilson(c1, n1)
    l2, u2 = wilson(c2, n2)
    d = p1 - p2
    out["uplift"] = d
    out["relative"] = d / p2 if p2 else None
    out["interval"] = [d - math.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2), d + math.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2)]
    pooled = (c1 + c2) / (n1 + n2)
    se = math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    out["p_value"] = math.erfc(abs(d) / se / math.sqrt(2)) if se > 0 else None
    return out
