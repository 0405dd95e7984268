"""Lead scoring, learned from the CRM's own history (as Odoo's predictive lead scoring):
a logistic regression over converted (1) versus disqualified (0) leads, reported with its
cross-validated ROC AUC; each lead's score (0-100, the probability of converting) comes with
its top factors (how many points each feature adds or takes, against an average lead). While
fewer than ``CRM_PLUGIN_SALES_SCORING_MIN_OUTCOMES`` outcomes exist (or only one kind), a
rule-based score stands in, with the rules as its factors.

Features: the source, the e-mail domain's type (business, free mail, none), whether a phone
and a company are given, the company's size (an ``employees`` or ``size`` attribute),
the number of custom attributes, and the lead's tasks: how many were done and days since the
latest (its interactions and their recency). scikit-learn is imported only when training.
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from crm_graph.plugin import utcnow
from crm_sales.tables import (
    CONVERTED,
    DISQUALIFIED,
    QUALIFIED,
    SOURCES,
    WORKING,
    SalesLead,
    SalesScoringModel,
    SalesTask,
)
from crm_sales.values import FREE_MAIL

LEARNED, RULES = "learned", "rules"
TOP_FACTORS = 3
RECENCY_CAP = 365.0

RULE_POINTS = {
    "source=referral": 25,
    "source=event": 15,
    "source=partner": 15,
    "source=web": 10,
    "source=phone": 10,
    "source=advertising": 5,
    "email=business": 15,
    "email=free": 5,
    "has_phone": 10,
    "has_company": 10,
    "status=working": 10,
    "status=qualified": 25,
}
RULE_BASE = 10


def features(
    lead: SalesLead, tasks_done: int, last_task: datetime | None, now: datetime
) -> dict[str, float]:
    """The lead's features as numbers (one-hot for categories)."""
    domain = lead.email.rsplit("@", 1)[1] if lead.email and "@" in lead.email else None
    kind = "none" if domain is None else ("free" if domain in FREE_MAIL else "business")
    attributes = lead.attributes or {}
    size = attributes.get("employees", attributes.get("size"))
    try:
        employees = float(size) if size is not None else 0.0
    except (TypeError, ValueError):
        employees = 0.0
    out = {f"source={s}": float(lead.source == s) for s in SOURCES}
    out |= {f"email={k}": float(kind == k) for k in ("business", "free", "none")}
    out |= {
        "has_phone": float(bool(lead.phone)),
        "has_company": float(bool(lead.company)),
        "company_size_log": math.log1p(max(employees, 0.0)),
        "attributes": float(len(attributes)),
        "tasks_done": float(tasks_done),
        "days_since_task": RECENCY_CAP
        if last_task is None
        else min((now - last_task).total_seconds() / 86400, RECENCY_CAP),
    }
    return out


def rule_score(lead: SalesLead, found: dict[str, float]) -> tuple[int, list[dict[str, Any]]]:
    applied = {k: p for k, p in RULE_POINTS.items() if found.get(k)}
    if lead.status == WORKING:
        applied["status=working"] = RULE_POINTS["status=working"]
    if lead.status == QUALIFIED:
        applied["status=qualified"] = RULE_POINTS["status=qualified"]
    score = min(100, RULE_BASE + sum(applied.values()))
    factors = sorted(applied.items(), key=lambda item: -item[1])[:TOP_FACTORS]
    return score, [{"feature": k, "effect": float(p)} for k, p in factors]


def learned_score(
    params: dict[str, Any], found: dict[str, float]
) -> tuple[int, list[dict[str, Any]]]:
    """The probability, and each feature's effect: points lost (or gained) if the feature
    were at the training mean."""
    names, weights = params["features"], params["weights"]
    means, scales = params["means"], params["scales"]
    z = [(found.get(n, 0.0) - m) / s for n, m, s in zip(names, means, scales, strict=True)]
    logit = params["intercept"] + sum(w * x for w, x in zip(weights, z, strict=True))
    p = 1 / (1 + math.exp(-logit))
    effects = []
    for name, w, x in zip(names, weights, z, strict=True):
        without = 1 / (1 + math.exp(-(logit - w * x)))
        effects.append((name, round(100 * (p - without), 2)))
    effects = [e for e in effects if e[1] != 0]
    effects.sort(key=lambda e: -abs(e[1]))
    return round(100 * p), [{"feature": n, "effect": e} for n, e in effects[:TOP_FACTORS]]


async def _activity(session: AsyncSession) -> dict[int, tuple[int, datetime | None]]:
    rows = await session.execute(
        select(SalesTask.lead_id, func.count(SalesTask.id), func.max(SalesTask.done_at))
        .where(SalesTask.lead_id.is_not(None), SalesTask.done_at.is_not(None))
        .group_by(SalesTask.lead_id)
    )
    return {lead_id: (count, last) for lead_id, count, last in rows}


async def current(session: AsyncSession) -> SalesScoringModel | None:
    return await session.scalar(
        select(SalesScoringModel).order_by(SalesScoringModel.id.desc()).limit(1)
    )


def _fit(rows: list[dict[str, float]], labels: list[int]) -> dict[str, Any]:
    import numpy as np
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    names = sorted(rows[0])
    x = np.array([[r[n] for n in names] for r in rows])
    y = np.array(labels)
    model = make_pipeline(
        StandardScaler(), LogisticRegression(class_weight="balanced", max_iter=1000)
    )
    folds = min(5, int(min(y.sum(), len(y) - y.sum())))
    cv = StratifiedKFold(n_splits=folds, shuffle=True, random_state=0)
    auc = float(cross_val_score(model, x, y, cv=cv, scoring="roc_auc").mean())
    model.fit(x, y)
    scaler, regression = model[0], model[1]
    scales = [float(s) if s > 0 else 1.0 for s in scaler.scale_]
    return {
        "features": names,
        "means": [float(m) for m in scaler.mean_],
        "scales": scales,
        "weights": [float(w) for w in regression.coef_[0]],
        "intercept": float(regression.intercept_[0]),
        "auc": auc,
        "folds": folds,
    }


async def train(session: AsyncSession, min_outcomes: int) -> SalesScoringModel:
    """Fit (or fall back to the rules), store the model and rescore every open lead."""
    now = utcnow()
    activity = await _activity(session)
    leads = list(await session.scalars(select(SalesLead)))
    found = {
        lead.id: features(lead, *activity.get(lead.id, (0, None)), now)
        for lead in leads  # type: ignore[arg-type]
    }
    outcomes = [lead for lead in leads if lead.status in (CONVERTED, DISQUALIFIED)]
    labels = [int(lead.status == CONVERTED) for lead in outcomes]
    enough = len(outcomes) >= min_outcomes and 2 <= sum(labels) <= len(labels) - 2
    if enough:
        params = _fit([found[lead.id] for lead in outcomes], labels)  # type: ignore[index]
        model = SalesScoringModel(
            kind=LEARNED, outcomes=len(outcomes), auc=params["auc"], params=params
        )
    else:
        model = SalesScoringModel(kind=RULES, outcomes=len(outcomes), params={"rules": RULE_POINTS})
    session.add(model)
    for lead in leads:
        if lead.status not in (CONVERTED, DISQUALIFIED):
            lead.score, lead.score_factors = score_with(model, lead, found[lead.id])  # type: ignore[index]
    await session.flush()
    return model


def score_with(
    model: SalesScoringModel | None, lead: SalesLead, found: dict[str, float]
) -> tuple[int, list[dict[str, Any]]]:
    if model is not None and model.kind == LEARNED:
        return learned_score(model.params, found)
    return rule_score(lead, found)


async def score_new(session: AsyncSession, lead: SalesLead) -> None:
    """Score a lead as it is created or changed, with the model in force."""
    found = features(lead, 0, None, utcnow())
    lead.score, lead.score_factors = score_with(await current(session), lead, found)
