"""ASAB's four stock solutions and the compositions it can reach by mixing them.

Mixing is linear in moles, so the reachable amount fractions are the convex hull of the
stocks' compositions (a quadrilateral in the (x_EC, x_LiPF6) plane). The offered limitations
are its bounding box; a request inside the box but outside the hull is mixed as the nearest
reachable composition and reported as such. Stocks of the real campaign (lab-science.md).
"""

from __future__ import annotations

from dataclasses import dataclass

from finales.lab.composition import Composition

# The demonstrator kept LiPF6 at x <= 0.12 (lab-science.md); the 1.5 M-in-EMC stock alone
# would reach x = 0.143, with little to gain: the conductivity falls off beyond ~1 M.
LIPF6_OPERATING_MAX = 0.12


@dataclass(frozen=True)
class Stock:
    """A stock solution: LiPF6 molarity (mol/L), EC mass fraction of the solvent, density."""

    name: str
    molarity: float
    w_ec: float
    density_g_per_ml: float

    def composition(self) -> Composition:
        solution_g = 1000.0 * self.density_g_per_ml  # per litre
        salt_g = self.molarity * 151.91
        molality = self.molarity / (solution_g - salt_g) * 1000.0
        return Composition.from_molality(molality, self.w_ec)


STOCKS = (
    Stock("1.5 M LiPF6 in EC:EMC 1:1 (w/w)", 1.5, 0.5, 1.288),
    Stock("1.5 M LiPF6 in EMC", 1.5, 0.0, 1.162),
    Stock("EC:EMC 1:1 (w/w)", 0.0, 0.5, 1.159),
    Stock("EMC", 0.0, 0.0, 1.005),
)


def hull(stocks: tuple[Stock, ...] = STOCKS) -> list[tuple[float, float]]:
    """The reachable region as a counter-clockwise polygon of (x_EC, x_LiPF6) points."""
    points = sorted({(s.composition().x_ec, s.composition().x_lipf6) for s in stocks})

    def cross(o: tuple[float, float], a: tuple[float, float], b: tuple[float, float]) -> float:
        return (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0])

    lower: list[tuple[float, float]] = []
    upper: list[tuple[float, float]] = []
    for p in points:
        while len(lower) >= 2 and cross(lower[-2], lower[-1], p) <= 0:
            lower.pop()
        lower.append(p)
    for p in reversed(points):
        while len(upper) >= 2 and cross(upper[-2], upper[-1], p) <= 0:
            upper.pop()
        upper.append(p)
    return lower[:-1] + upper[:-1]


def limits(stocks: tuple[Stock, ...] = STOCKS) -> dict[str, tuple[float, float]]:
    """Bounds of each amount fraction over the stocks (LiPF6 capped at the operating limit)."""
    comps = [s.composition() for s in stocks]
    return {
        "EC": (0.0, max(c.x_ec for c in comps)),
        "EMC": (min(c.x_emc for c in comps), 1.0),
        "LiPF6": (0.0, min(LIPF6_OPERATING_MAX, max(c.x_lipf6 for c in comps))),
    }


def _project(
    p: tuple[float, float], a: tuple[float, float], b: tuple[float, float]
) -> tuple[float, float]:
    dx, dy = b[0] - a[0], b[1] - a[1]
    t = ((p[0] - a[0]) * dx + (p[1] - a[1]) * dy) / (dx * dx + dy * dy)
    t = min(1.0, max(0.0, t))
    return a[0] + t * dx, a[1] + t * dy


def nearest_reachable(target: Composition, stocks: tuple[Stock, ...] = STOCKS) -> Composition:
    """``target`` itself when the stocks can make it, else the nearest composition they can."""
    poly = hull(stocks)
    p = (target.x_ec, target.x_lipf6)
    edges = list(zip(poly, poly[1:] + poly[:1], strict=True))
    inside = all(
        (b[0] - a[0]) * (p[1] - a[1]) - (b[1] - a[1]) * (p[0] - a[0]) >= -1e-12 for a, b in edges
    )
    if inside:
        return target
    best = min(
        (_project(p, a, b) for a, b in edges),
        key=lambda q: (q[0] - p[0]) ** 2 + (q[1] - p[1]) ** 2,
    )
    x_ec, x_li = max(0.0, best[0]), max(0.0, best[1])
    return Composition.of(x_ec, max(0.0, 1.0 - x_ec - x_li), x_li)
