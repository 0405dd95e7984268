"""Customer lifetime value: historical (discounted) and predictive (BG/NBD + Gamma-Gamma).

Predictive CLV follows Fader, Hardie & Lee (2005), "Counting your customers the easy way: an
alternative to the Pareto/NBD model" (BG/NBD) and Fader & Hardie (2013), "The Gamma-Gamma model
of monetary value". Definitions are the papers' (and the ``lifetimes`` package's): frequency
``x`` is the number of repeat purchase periods (distinct purchase days after the first),
recency ``t_x`` the age of the customer at the last purchase and ``T`` the age at the end of
the observation, both in time units of ``unit_days`` days.

Both models are fitted by maximum likelihood on log-parameters with ``scipy.optimize`` and
closed-form (log-)likelihoods and gradients built from ``scipy.special``. Customers with
identical observations are grouped and weighted, so a fit costs the number of *distinct*
observations, not the number of customers.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.optimize import minimize
from scipy.special import betaln, digamma, gammaln, hyp2f1

DAYS_PER_YEAR = 365.25


@dataclass(frozen=True)
class Summary:
    """Per-customer RFM-style summary in model units (arrays aligned with ``customer``)."""

    customer: np.ndarray  # customer ids, ascending
    frequency: np.ndarray  # repeat purchase days (x)
    recency: np.ndarray  # t_x in time units
    age: np.ndarray  # T in time units
    monetary: np.ndarray  # mean value of the repeat purchase days (0 when x == 0)
    first_day: np.ndarray  # first purchase day (days since the epoch)
    unit_days: float


def daily_totals(
    customer: np.ndarray, day: np.ndarray, value: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Collapse orders into one purchase per (customer, day): the unit the papers count."""
    if not len(customer):  # no orders: the first "start" below would index an empty array
        return customer, day, value
    order = np.lexsort((day, customer))
    c, d, v = customer[order], day[order], value[order]
    starts = np.flatnonzero(np.r_[True, (c[1:] != c[:-1]) | (d[1:] != d[:-1])])
    return c[starts], d[starts], np.add.reduceat(v, starts)


def summarise(
    customer: np.ndarray, day: np.ndarray, value: np.ndarray, as_of_day: int, unit_days: float
) -> Summary:
    """Frequency, recency, age and repeat-purchase mean value of every purchasing customer.

    ``day`` is the integer UTC day of each order; orders after ``as_of_day`` must already be
    left out.
    """
    c, d, v = daily_totals(customer, day, value)
    starts = np.flatnonzero(np.r_[True, c[1:] != c[:-1]]) if len(c) else np.array([], int)
    counts = np.diff(np.r_[starts, len(c)])
    first = d[starts]
    last = d[starts + counts - 1] if len(c) else d[:0]
    repeat_value = np.add.reduceat(v, starts) - v[starts] if len(c) else v
    x = counts - 1
    monetary = np.divide(repeat_value, x, out=np.zeros(len(x)), where=x > 0)
    return Summary(
        customer=c[starts],
        frequency=x.astype(float),
        recency=(last - first) / unit_days,
        age=(as_of_day - first) / unit_days,
        monetary=monetary,
        first_day=first,
        unit_days=unit_days,
    )


@dataclass(frozen=True)
class Groups:
    """Distinct rows of some columns: their values, codes into each column's distinct values,
    how many input rows each stands for, and (when asked for) each input row's group."""

    values: list[np.ndarray]
    distinct: list[np.ndarray]
    codes: list[np.ndarray]
    weights: np.ndarray
    inverse: np.ndarray | None


def grouped(*columns: np.ndarray, inverse: bool = False) -> Groups:
    """Group identical rows. Each column is factorised on its own (a 1-d sort) and the codes
    are combined into one integer key, several times faster than ``np.unique(axis=0)``."""
    key = np.zeros(len(columns[0]), dtype=np.int64)
    distinct = []
    for column in columns:
        values = np.unique(column)
        key = key * len(values) + np.searchsorted(values, column)
        distinct.append(values)
    if inverse:
        keys, rows, counts = np.unique(key, return_inverse=True, return_counts=True)
    else:
        ordered = np.sort(key)
        starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])
        keys, rows, counts = ordered[starts], None, np.diff(np.r_[starts, len(ordered)])
    codes: list[np.ndarray] = []
    for values in reversed(distinct):
        keys, code = np.divmod(keys, len(values))
        codes.insert(0, code)
    return Groups(
        values=[values[code] for values, code in zip(distinct, codes, strict=True)],
        distinct=distinct,
        codes=codes,
        weights=counts.astype(float),
        inverse=None if rows is None else rows.ravel(),
    )


def _dot(u: np.ndarray, v: np.ndarray) -> float:
    """u . v without BLAS: OpenBLAS spreads long dot products over threads, which costs
    milliseconds per call on a busy machine; the likelihood needs dozens per evaluation."""
    return float(np.einsum("i,i->", u, v))


def _fit(
    objective: Callable[[np.ndarray], tuple[float, np.ndarray]], start: np.ndarray
) -> tuple[np.ndarray, float]:
    """Minimise a negative log-likelihood over log-parameters; returns (params, loglik)."""
    result = minimize(
        objective,
        np.log(start),
        jac=True,
        method="L-BFGS-B",
        bounds=[(-12.0, 12.0)] * len(start),
        options={"maxiter": 500, "ftol": 1e-12, "gtol": 1e-8},
    )
    return np.exp(result.x), -float(result.fun)


@dataclass(frozen=True)
class BgNbd:
    """BG/NBD: purchases Poisson(lambda) while alive, lambda ~ Gamma(r, alpha); after each
    repeat purchase the customer drops out with probability p ~ Beta(a, b)."""

    r: float
    alpha: float
    a: float
    b: float

    def log_likelihood(self, x: np.ndarray, t_x: np.ndarray, T: np.ndarray) -> np.ndarray:
        """Per-customer log-likelihood (FHL 2005, eq. 6)."""
        r, alpha, a, b = self.r, self.alpha, self.a, self.b
        a1 = gammaln(r + x) - gammaln(r) + r * np.log(alpha)
        a2 = betaln(a, b + x) - betaln(a, b)
        a3 = -(r + x) * np.log(alpha + T)
        with np.errstate(divide="ignore", invalid="ignore"):
            a4 = np.where(
                x > 0, np.log(a) - np.log(b + x - 1) - (r + x) * np.log(alpha + t_x), -np.inf
            )
        return a1 + a2 + np.logaddexp(a3, a4)

    def _dropout_odds(self, x: np.ndarray, t_x: np.ndarray, T: np.ndarray) -> np.ndarray:
        """a/(b+x-1) * ((alpha+T)/(alpha+t_x))^(r+x) for x > 0, else 0."""
        with np.errstate(divide="ignore", invalid="ignore"):
            log_odds = (
                np.log(self.a)
                - np.log(self.b + x - 1)
                + (self.r + x) * (np.log(self.alpha + T) - np.log(self.alpha + t_x))
            )
        return np.where(x > 0, np.exp(np.minimum(log_odds, 700.0)), 0.0)

    def probability_alive(self, x: np.ndarray, t_x: np.ndarray, T: np.ndarray) -> np.ndarray:
        """P(still active at T | x, t_x, T) (FHL 2005, eq. 11)."""
        return 1.0 / (1.0 + self._dropout_odds(x, t_x, T))

    def expected_purchases(self, t: np.ndarray | float) -> np.ndarray:
        """Unconditional E[X(t)] for a customer just acquired (FHL 2005, eq. 7)."""
        r, alpha, a, b = self.r, self.alpha, self.a, self.b
        t = np.asarray(t, dtype=float)
        z = t / (alpha + t)
        return (a + b - 1) / (a - 1) * (1 - (alpha / (alpha + t)) ** r * hyp2f1(r, b, a + b - 1, z))

    def conditional_expected_purchases(
        self, t: np.ndarray | float, x: np.ndarray, t_x: np.ndarray, T: np.ndarray
    ) -> np.ndarray:
        """E[Y(t) | x, t_x, T]: purchases expected in the next ``t`` units (FHL 2005, eq. 10)."""
        r, alpha, a, b = self.r, self.alpha, self.a, self.b
        t = np.asarray(t, dtype=float)
        z = t / (alpha + T + t)
        shrink = np.exp((r + x) * (np.log(alpha + T) - np.log(alpha + T + t)))
        numerator = (
            (a + b + x - 1) / (a - 1) * (1 - shrink * hyp2f1(r + x, b + x, a + b + x - 1, z))
        )
        return numerator / (1.0 + self._dropout_odds(x, t_x, T))


@dataclass(frozen=True)
class GammaGamma:
    """Gamma-Gamma: each purchase value ~ Gamma(p, nu), nu ~ Gamma(q, gamma) across customers."""

    p: float
    q: float
    gamma: float

    def log_likelihood(self, x: np.ndarray, m: np.ndarray) -> np.ndarray:
        """Per-customer log-density of the mean ``m`` of ``x`` purchases (Fader & Hardie 2013)."""
        p, q, g = self.p, self.q, self.gamma
        return (
            gammaln(p * x + q)
            - gammaln(p * x)
            - gammaln(q)
            + q * np.log(g)
            + p * x * np.log(x)
            + (p * x - 1) * np.log(m)
            - (p * x + q) * np.log(g + m * x)
        )

    @property
    def population_mean(self) -> float:
        """E[purchase value] for a customer with no repeat purchases yet (needs q > 1)."""
        return self.p * self.gamma / (self.q - 1)

    def conditional_expected_value(self, x: np.ndarray, m: np.ndarray) -> np.ndarray:
        """E[value of a purchase | x repeat purchases averaging m] (Fader & Hardie 2013, eq. 5)."""
        p, q, g = self.p, self.q, self.gamma
        return p * (g + x * m) / (p * x + q - 1)


@dataclass(frozen=True)
class Fitted:
    """A fitted model with its maximised log-likelihood and the data size it saw."""

    model: BgNbd | GammaGamma
    log_likelihood: float
    customers: int
    distinct: int


def fit_bgnbd(x: np.ndarray, t_x: np.ndarray, T: np.ndarray) -> Fitted:
    """Maximum likelihood BG/NBD on customers grouped by identical (x, t_x, T)."""
    groups = grouped(x, t_x, T)
    (xs, txs, Ts), (ix, itx, iT), w = groups.distinct, groups.codes, groups.weights
    total = float(w.sum())
    wx = np.bincount(ix, weights=w, minlength=len(xs))
    # Customers without repeat purchases only have the "alive at T" branch, which depends on
    # T alone; customers with repeats also have "dropped out after the last purchase".
    repeat = xs[ix] > 0
    zw = np.bincount(iT[~repeat], weights=w[~repeat], minlength=len(Ts))
    rx, rix, ritx, riT, rw = xs[ix[repeat]], ix[repeat], itx[repeat], iT[repeat], w[repeat]

    def objective(log_params: np.ndarray) -> tuple[float, np.ndarray]:
        r, alpha, a, b = np.exp(log_params)
        # Per distinct x, T and t_x first; then gathered for the distinct rows.
        a12 = gammaln(r + xs) - gammaln(r) + r * np.log(alpha) + betaln(a, b + xs) - betaln(a, b)
        with np.errstate(divide="ignore"):
            drop = np.log(a) - np.log(b + xs - 1)
        log_Ts, log_txs = np.log(alpha + Ts), np.log(alpha + txs)
        log_T, log_tx = log_Ts[riT], log_txs[ritx]
        rpx = r + rx
        a3 = -rpx * log_T
        a4 = drop[rix] - rpx * log_tx
        both = np.logaddexp(a3, a4)
        share = np.exp(a4 - both)  # posterior weight of the dropout branch
        ll = _dot(wx, a12) - r * _dot(zw, log_Ts) + _dot(rw, both)
        rw_share = rw * share
        d_r = (
            _dot(wx, digamma(r + xs) - digamma(r) + np.log(alpha))
            - _dot(zw, log_Ts)
            - _dot(rw, log_T)
            - _dot(rw_share, log_tx - log_T)
        )
        inv_T, inv_tx = 1.0 / (alpha + Ts), 1.0 / (alpha + txs)
        d_alpha = (
            total * r / alpha
            - r * _dot(zw, inv_T)
            - _dot(rw * rpx, inv_T[riT] + share * (inv_tx[ritx] - inv_T[riT]))
        )
        dig_ab = digamma(a + b) - digamma(a + b + xs)
        d_a = _dot(wx, dig_ab) + rw_share.sum() / a
        d_b = _dot(wx, dig_ab + digamma(b + xs) - digamma(b)) - _dot(rw_share, 1.0 / (b + rx - 1))
        grad = np.array([d_r * r, d_alpha * alpha, d_a * a, d_b * b])
        return -ll / total, -grad / total

    mean_rate = (float(np.sum(x)) + 1.0) / max(float(np.sum(T)), 1.0)
    params, ll = _fit(objective, np.array([1.0, 1.0 / mean_rate, 1.0, 1.0]))
    return Fitted(BgNbd(*params), ll * total, int(total), len(w))


def fit_gamma_gamma(x: np.ndarray, m: np.ndarray) -> Fitted:
    """Maximum likelihood Gamma-Gamma on customers with repeat purchases, grouped by (x, m)."""
    keep = (x > 0) & (m > 0)
    if len(np.unique(m[keep])) > keep.sum() / 2:  # amounts rarely repeat: grouping won't pay
        gx, gm, w = x[keep], m[keep], np.ones(int(keep.sum()))
    else:
        groups = grouped(x[keep], m[keep])
        (gx, gm), w = groups.values, groups.weights
    total = float(w.sum())
    xs, x_index = np.unique(gx, return_inverse=True)
    wx = np.bincount(x_index, weights=w)
    # Parts of the likelihood linear in the parameters are summed once.
    sum_x_log_xm = _dot(w, gx * (np.log(gx) + np.log(gm)))
    sum_log_m = _dot(w, np.log(gm))
    wxs = w * gx

    def objective(log_params: np.ndarray) -> tuple[float, np.ndarray]:
        p, q, g = np.exp(log_params)
        log_gxm = np.log(g + gm * gx)
        ll = (
            _dot(wx, gammaln(p * xs + q) - gammaln(p * xs))
            - total * (gammaln(q) - q * np.log(g))
            + p * sum_x_log_xm
            - sum_log_m
            - p * _dot(wxs, log_gxm)
            - q * _dot(w, log_gxm)
        )
        inv = 1.0 / (g + gm * gx)
        d_p = (
            _dot(wx, xs * (digamma(p * xs + q) - digamma(p * xs)))
            + sum_x_log_xm
            - _dot(wxs, log_gxm)
        )
        d_q = (
            _dot(wx, digamma(p * xs + q))
            - total * digamma(q)
            + total * np.log(g)
            - _dot(w, log_gxm)
        )
        d_g = total * q / g - _dot(p * wxs + q * w, inv)
        grad = np.array([d_p * p, d_q * q, d_g * g])
        return -ll / total, -grad / total

    mean = _dot(w, gm) / total
    params, ll = _fit(objective, np.array([1.0, 2.0, mean]))
    return Fitted(GammaGamma(*params), ll * total, int(total), len(w))


def discounted_value(
    model: BgNbd,
    spend: np.ndarray,
    x: np.ndarray,
    t_x: np.ndarray,
    T: np.ndarray,
    horizon_days: float,
    unit_days: float,
    annual_rate: float,
    margin: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Predicted discounted value over the horizon, and the purchases expected within it.

    The horizon is cut into months (the last one possibly partial); the purchases expected
    in each month are valued at the expected spend and discounted to today at
    ``annual_rate``: value = margin x spend x sum_k dE[Y]_k / (1 + r)^(t_k / year).
    """
    month = DAYS_PER_YEAR / 12
    ends = np.minimum(np.arange(1, int(np.ceil(horizon_days / month)) + 1) * month, horizon_days)
    cumulative = model.conditional_expected_purchases(
        ends[None, :] / unit_days, x[:, None], t_x[:, None], T[:, None]
    )
    increments = np.diff(np.c_[np.zeros(len(x)), cumulative], axis=1)
    discount = (1.0 + annual_rate) ** (-ends / DAYS_PER_YEAR)
    return margin * spend * np.einsum("ij,j->i", increments, discount), cumulative[:, -1]


def historical_value(
    periods: np.ndarray, revenue: np.ndarray, unit_days: float, annual_rate: float, margin: float
) -> float:
    """Sum over periods of margin x revenue / (1 + r)^t, t in years since the first purchase.

    ``periods`` counts time units since the customer's first purchase day (0 = that unit).
    """
    years = np.asarray(periods, dtype=float) * unit_days / DAYS_PER_YEAR
    return margin * _dot(np.asarray(revenue, dtype=float), (1.0 + annual_rate) ** -years)


@dataclass(frozen=True)
class Scores:
    expected_purchases: np.ndarray  # within the horizon
    probability_alive: np.ndarray
    expected_spend: np.ndarray  # per purchase
    value: np.ndarray  # discounted, with margin


def score(
    bgnbd: BgNbd,
    gamma_gamma: GammaGamma,
    summary: Summary,
    horizon_days: float,
    annual_rate: float,
    margin: float,
) -> Scores:
    """Score every customer; the BG/NBD part is computed once per distinct (x, t_x, T)."""
    groups = grouped(summary.frequency, summary.recency, summary.age, inverse=True)
    x, t_x, T = groups.values
    per_purchase, purchases = discounted_value(
        bgnbd, np.ones(len(x)), x, t_x, T, horizon_days, summary.unit_days, annual_rate, margin
    )
    rows = groups.inverse
    spend = np.where(
        summary.frequency > 0,
        gamma_gamma.conditional_expected_value(summary.frequency, summary.monetary),
        gamma_gamma.population_mean,
    )
    return Scores(
        expected_purchases=purchases[rows],
        probability_alive=bgnbd.probability_alive(x, t_x, T)[rows],
        expected_spend=spend,
        value=per_purchase[rows] * spend,
    )


def customer_value(
    params: dict[str, Any], row: Any, horizon_days: int, rate: float
) -> tuple[float, float, float]:
    """One customer's (predicted value, expected purchases, historical value) from the stored
    model ``params`` and score ``row``: the stored prediction when horizon and discount rate
    are the model's own, recomputed from the row's frequency, recency and age otherwise."""
    unit, margin = params["timeUnitDays"], params["margin"]
    if horizon_days == params["horizonDays"] and rate == params["discountRate"]:
        value, purchases = row.predicted_value, row.expected_purchases
    else:
        x, t_x, T = (np.array([v]) for v in (row.frequency, row.recency, row.age))
        values, expected = discounted_value(
            BgNbd(**params["bgnbd"]),
            np.array([row.expected_spend]),
            x,
            t_x,
            T,
            horizon_days,
            unit,
            rate,
            margin,
        )
        value, purchases = float(values[0]), float(expected[0])
    periods = np.array([p for p, _ in row.revenue_periods], dtype=float)
    revenue = np.array([r for _, r in row.revenue_periods], dtype=float)
    historical = historical_value(periods, revenue, unit, rate, margin)
    return value, float(purchases), historical
