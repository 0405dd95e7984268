"""BG/NBD and Gamma-Gamma: fitting recovers the parameters data were simulated from, and the
conditional expectations agree with values computed independently (the published CDNOW
example, and numerical integration over the models' latent variables)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import integrate, stats

from crm_analytics.clv import (
    BgNbd,
    GammaGamma,
    discounted_value,
    fit_bgnbd,
    fit_gamma_gamma,
    grouped,
    historical_value,
    summarise,
)
from crm_analytics.simulate import simulate

CUSTOMERS = 30_000
# Fitted parameters must land within this relative distance of the truth. With 30,000
# customers the sampling error of the MLE is a few percent (b, the least identified, ~8%).
TOLERANCE = 0.15

PARAMETER_SETS = [
    # The CDNOW estimates of Fader, Hardie & Lee (2005) and Fader & Hardie (2013).
    (BgNbd(0.243, 4.414, 0.793, 2.426), GammaGamma(6.25, 3.74, 15.44)),
    # Frequent buyers who rarely leave; high, homogeneous spend.
    (BgNbd(1.5, 6.0, 1.2, 6.0), GammaGamma(3.0, 8.0, 200.0)),
    # Slow buyers, many leave early; spend varies a lot.
    (BgNbd(0.6, 10.0, 2.0, 3.0), GammaGamma(2.0, 2.5, 30.0)),
]


def _relative(fitted: object, truth: object) -> dict[str, float]:
    return {k: abs(getattr(fitted, k) / v - 1) for k, v in vars(truth).items()}


@pytest.mark.parametrize(("bgnbd", "gamma_gamma"), PARAMETER_SETS)
def test_fitting_recovers_simulated_parameters(bgnbd: BgNbd, gamma_gamma: GammaGamma) -> None:
    rng = np.random.default_rng(42)
    age = rng.uniform(20, 80, CUSTOMERS)  # weeks since the first purchase
    data = simulate(bgnbd, gamma_gamma, age, rng)

    fitted = fit_bgnbd(data.frequency, data.recency, data.age)
    assert fitted.customers == CUSTOMERS
    errors = _relative(fitted.model, bgnbd)
    assert max(errors.values()) < TOLERANCE, (fitted.model, errors)
    # Maximum likelihood: the fit explains the data at least as well as the truth does.
    truth_ll = bgnbd.log_likelihood(data.frequency, data.recency, data.age).sum()
    assert fitted.log_likelihood >= truth_ll
    assert fitted.log_likelihood == pytest.approx(
        fitted.model.log_likelihood(data.frequency, data.recency, data.age).sum()
    )

    spend = fit_gamma_gamma(data.frequency, data.monetary)
    assert spend.customers == int((data.frequency > 0).sum())
    errors = _relative(spend.model, gamma_gamma)
    assert max(errors.values()) < TOLERANCE, (spend.model, errors)
    repeat = data.frequency > 0
    truth_ll = gamma_gamma.log_likelihood(data.frequency[repeat], data.monetary[repeat]).sum()
    assert spend.log_likelihood >= truth_ll


def test_grouping_identical_customers_changes_nothing_but_the_work() -> None:
    rng = np.random.default_rng(7)
    age = np.floor(rng.uniform(10, 60, 20_000) * 7) / 7  # whole days, in weeks
    data = simulate(*PARAMETER_SETS[0], age, rng, resolution=1 / 7)
    fitted = fit_bgnbd(data.frequency, data.recency, data.age)
    assert fitted.distinct < len(age) / 2  # many customers share an observation
    # The weighted likelihood at the optimum equals the plain per-customer sum.
    per_customer = fitted.model.log_likelihood(data.frequency, data.recency, data.age).sum()
    assert fitted.log_likelihood == pytest.approx(per_customer, rel=1e-10)
    groups = grouped(data.frequency, data.recency, data.age, inverse=True)
    assert groups.weights.sum() == len(age)
    for column, values in zip((data.frequency, data.recency, data.age), groups.values, strict=True):
        assert np.array_equal(values[groups.inverse], column)


def test_published_cdnow_example() -> None:
    """FHL 2005, section 4: a customer with x = 2, t_x = 30.43, T = 38.86 weeks is expected to
    make 1.226 purchases in the next 39 weeks."""
    model = BgNbd(0.243, 4.414, 0.793, 2.426)
    expected = model.conditional_expected_purchases(
        39, np.array([2.0]), np.array([30.43]), np.array([38.86])
    )
    assert expected[0] == pytest.approx(1.226, abs=5e-4)


def _posterior_integrals(
    model: BgNbd, x: float, t_x: float, T: float, t: float
) -> tuple[float, float]:
    """E[Y(t) | data] and P(alive | data) by integrating over lambda and p directly.

    Given (lambda, p) the likelihood is (1-p)^x lambda^x e^(-lambda T) (still alive) plus
    p (1-p)^(x-1) lambda^x e^(-lambda t_x) (left after the last purchase, x > 0); an alive
    customer makes (1 - exp(-lambda p t)) / p purchases in the next t on average. The double
    integral is a 600 x 600 Gauss-Legendre rule after the smoothing substitutions
    lambda = u^2 and p = v^5 (the priors have root-type singularities at 0).
    """
    nodes, weights = np.polynomial.legendre.leggauss(600)
    u = (nodes + 1) / 2 * math.sqrt(20.0)  # lambda up to 20: far beyond the posterior mass
    wu = weights / 2 * math.sqrt(20.0) * 2 * u
    v = (nodes + 1) / 2
    wv = weights / 2 * 5 * v**4
    lam, p = (u**2)[:, None], (v**5)[None, :]
    log_prior = stats.gamma(model.r, scale=1 / model.alpha).logpdf(lam) + stats.beta(
        model.a, model.b
    ).logpdf(p)
    with np.errstate(divide="ignore"):
        log_alive = x * np.log1p(-p) + x * np.log(lam) - lam * T + log_prior
        log_gone = (
            np.log(p) + (x - 1) * np.log1p(-p) + x * np.log(lam) - lam * t_x + log_prior
            if x
            else np.full_like(log_alive, -np.inf)
        )
    shift = max(log_alive.max(), log_gone.max())
    alive, gone = np.exp(log_alive - shift), np.exp(log_gone - shift)
    w = wu[:, None] * wv[None, :]
    evidence = np.sum(w * (alive + gone))
    future = np.sum(w * alive * -np.expm1(-lam * p * t) / p)
    return float(future / evidence), float(np.sum(w * alive) / evidence)


@pytest.mark.parametrize(("x", "t_x", "T"), [(0, 0.0, 20.0), (1, 5.0, 30.0), (4, 28.0, 32.0)])
def test_conditional_expectations_match_numerical_integration(x: int, t_x: float, T: float) -> None:
    model = BgNbd(1.5, 6.0, 1.2, 6.0)
    horizon = 26.0
    expected, alive = _posterior_integrals(model, x, t_x, T, horizon)
    args = (np.array([float(x)]), np.array([t_x]), np.array([T]))
    assert model.conditional_expected_purchases(horizon, *args)[0] == pytest.approx(
        expected, rel=2e-4
    )
    assert model.probability_alive(*args)[0] == pytest.approx(alive, rel=2e-4)


def test_gamma_gamma_expected_spend_matches_integration() -> None:
    model = GammaGamma(3.0, 8.0, 200.0)
    x, m = 3, 55.0

    # Posterior of the scale nu given x purchases averaging m: prior Gamma(q, gamma) times the
    # density of the mean, Gamma(p x, x nu); a purchase is worth p / nu on average.
    def posterior(nu: float) -> float:
        return stats.gamma(model.q, scale=1 / model.gamma).pdf(nu) * stats.gamma(
            model.p * x, scale=1 / (x * nu)
        ).pdf(m)

    evidence, _ = integrate.quad(posterior, 0, np.inf)
    mean, _ = integrate.quad(lambda nu: posterior(nu) * model.p / nu, 0, np.inf)
    assert model.conditional_expected_value(np.array([x]), np.array([m]))[0] == pytest.approx(
        mean / evidence, rel=1e-6
    )
    assert model.population_mean == pytest.approx(model.p * model.gamma / (model.q - 1))


def test_summary_follows_the_papers_definitions() -> None:
    # Customer 1: purchases on days 0, 0 (same day), 14 and 21; observed until day 28.
    # Customer 2: one purchase on day 7.
    customer = np.array([1, 1, 1, 1, 2])
    day = np.array([0, 0, 14, 21, 7])
    value = np.array([10.0, 5.0, 20.0, 40.0, 99.0])
    s = summarise(customer, day, value, as_of_day=28, unit_days=7)
    assert s.customer.tolist() == [1, 2]
    assert s.frequency.tolist() == [2, 0]  # repeat purchase *days*
    assert s.recency.tolist() == [3.0, 0.0]  # weeks from the first to the last purchase
    assert s.age.tolist() == [4.0, 3.0]
    assert s.monetary.tolist() == [30.0, 0.0]  # mean of the repeat days only


def test_values_discount_as_documented() -> None:
    model = BgNbd(1.5, 6.0, 1.2, 6.0)
    x, t_x, T = np.array([3.0]), np.array([20.0]), np.array([25.0])
    spend = np.array([50.0])
    flat, purchases = discounted_value(model, spend, x, t_x, T, 365, 7, 0.0, 0.5)
    # Without discounting, value = margin x spend x expected purchases.
    assert flat[0] == pytest.approx(0.5 * 50.0 * purchases[0])
    assert purchases[0] == pytest.approx(
        model.conditional_expected_purchases(365 / 7, x, t_x, T)[0]
    )
    discounted, _ = discounted_value(model, spend, x, t_x, T, 365, 7, 0.2, 0.5)
    assert flat[0] / 1.2 < discounted[0] < flat[0]
    # Historical: 100 in the first week, 100 one year (52.18 weeks) later, at 10 % a year.
    periods, revenue = np.array([0, 365.25 / 7]), np.array([100.0, 100.0])
    assert historical_value(periods, revenue, 7, 0.10, 1.0) == pytest.approx(100 + 100 / 1.1)
