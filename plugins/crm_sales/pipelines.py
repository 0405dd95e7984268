"""Pipelines and their stages: the ordered steps a deal goes through, each with its win
probability; a pipeline has at least one won and one lost stage (HubSpot's closed won / closed
lost), so every deal can be closed."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from crm_graph.plugin import Collector, clean_text, fail
from crm_sales.tables import LOST, OPEN, WON, SalesPipeline, SalesStage

KINDS = (OPEN, WON, LOST)
MAX_STAGES = 30


@dataclass(frozen=True)
class NewStage:
    name: str
    kind: str = OPEN
    probability: int | None = None  # open stages need one; won is 100, lost 0


def _stage_probability(stage: NewStage, errors: Collector, *path: str) -> int:
    fixed = {WON: 100, LOST: 0}.get(stage.kind)
    if fixed is not None:
        if stage.probability not in (None, fixed):
            errors.add("INVALID_PROBABILITY", f"a {stage.kind} stage has {fixed}%", *path)
        return fixed
    if stage.probability is None:
        errors.add("REQUIRED", "an open stage needs its win probability", *path)
        return 0
    if not 0 <= stage.probability <= 100:
        errors.add("INVALID_PROBABILITY", "a percentage from 0 to 100", *path)
    return stage.probability


async def create_pipeline(
    session: AsyncSession, name: str, stages: list[NewStage], at: tuple[str, ...] = ("input",)
) -> SalesPipeline:
    """A new pipeline after the existing ones, with ``stages`` in the order given."""
    errors = Collector()
    clean = clean_text(name, errors, *at, "name", max_length=100, required=True)
    if not 1 <= len(stages) <= MAX_STAGES:
        errors.add("INVALID_STAGES", f"1 to {MAX_STAGES} stages", *at, "stages")
    seen: set[str] = set()
    rows = []
    for index, stage in enumerate(stages):
        path = (*at, "stages", str(index))
        stage_name = clean_text(stage.name, errors, *path, "name", max_length=100, required=True)
        if stage_name is not None and stage_name.casefold() in seen:
            errors.add("DUPLICATE", "two stages of one pipeline share this name", *path, "name")
        seen.add((stage_name or "").casefold())
        probability = _stage_probability(stage, errors, *path, "probability")
        rows.append(SalesStage(name=stage_name, position=index, probability=probability))
        rows[-1].kind = stage.kind
    kinds = {stage.kind for stage in stages}
    if stages and not {WON, LOST} <= kinds:
        errors.add("INVALID_STAGES", "a pipeline needs a won and a lost stage", *at, "stages")
    if stages and OPEN not in kinds:
        errors.add("INVALID_STAGES", "a pipeline needs an open stage", *at, "stages")
    if clean is not None:
        taken = await session.scalar(
            select(SalesPipeline.id).where(func.lower(SalesPipeline.name) == clean.lower())
        )
        if taken is not None:
            errors.add("NAME_TAKEN", "another pipeline has this name", *at, "name")
    errors.check()
    last = await session.scalar(select(func.max(SalesPipeline.position)))
    pipeline = SalesPipeline(name=clean, position=(last or 0) + 1)
    session.add(pipeline)
    await session.flush()
    for row in rows:
        row.pipeline_id = pipeline.id
        session.add(row)
    await session.flush()
    return pipeline


async def pipelines(session: AsyncSession) -> list[SalesPipeline]:
    return list(
        await session.scalars(
            select(SalesPipeline).order_by(SalesPipeline.position, SalesPipeline.id)
        )
    )


async def stages_of(session: AsyncSession, pipeline_ids: list[int]) -> dict[int, list[SalesStage]]:
    """Each pipeline's stages in order (one statement)."""
    found: dict[int, list[SalesStage]] = {pk: [] for pk in pipeline_ids}
    statement = (
        select(SalesStage)
        .where(SalesStage.pipeline_id.in_(pipeline_ids))
        .order_by(SalesStage.pipeline_id, SalesStage.position)
    )
    for stage in await session.scalars(statement):
        found[stage.pipeline_id].append(stage)
    return found


async def stages_by_id(session: AsyncSession, ids: set[int]) -> dict[int, SalesStage]:
    if not ids:
        return {}
    rows = await session.scalars(select(SalesStage).where(SalesStage.id.in_(sorted(ids))))
    return {stage.id: stage for stage in rows}  # type: ignore[misc]


async def entry_stage(session: AsyncSession, pipeline_id: int | None, *path: str) -> SalesStage:
    """The first open stage of ``pipeline_id`` (the default pipeline, the first one, when
    ``None``): where a new deal starts when no stage is named."""
    if pipeline_id is None:
        first = await pipelines(session)
        if not first:
            raise fail("NOT_FOUND", "there is no pipeline; create one first", *path)
        pipeline_id = first[0].id
    stage = await session.scalar(
        select(SalesStage)
        .where(SalesStage.pipeline_id == pipeline_id, SalesStage.kind == OPEN)
        .order_by(SalesStage.position)
        .limit(1)
    )
    if stage is None:
        raise fail("NOT_FOUND", "no such pipeline", *path)
    return stage
