"""Pipelines and their stages: the ordered steps a deal goes through, each with its win
probability; a pipeline has at least one open, one won and one lost stage (HubSpot's closed
won / closed lost), so every deal can be closed, before and after every edit. Edits never
move or close a deal: a stage holding deals is neither removed nor changes kind."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from crm_graph.plugin import Collector, check_version, clean_text, fail, to_global_id, utcnow
from crm_sales.tables import LOST, OPEN, WON, SalesDeal, SalesPipeline, SalesStage

KINDS = (OPEN, WON, LOST)
MAX_STAGES = 30


@dataclass(frozen=True)
class NewStage:
    name: str
    kind: str = OPEN
    probability: int | None = None  # open stages need one; won is 100, lost 0
    id: int | None = None  # an existing stage, when editing a pipeline


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


def _check_stages(
    stages: list[NewStage], errors: Collector, at: tuple[str, ...]
) -> list[tuple[str | None, int]]:
    """Each stage's clean name and probability; the list as a whole needs 1 to ``MAX_STAGES``
    stages, names unique (case aside), an open, a won and a lost stage."""
    if not 1 <= len(stages) <= MAX_STAGES:
        errors.add("INVALID_STAGES", f"1 to {MAX_STAGES} stages", *at, "stages")
    seen: set[str] = set()
    out = []
    for index, stage in enumerate(stages):
        path = (*at, "stages", str(index))
        name = clean_text(stage.name, errors, *path, "name", max_length=100, required=True)
        if name is not None and name.casefold() in seen:
            errors.add("DUPLICATE", "two stages of one pipeline share this name", *path, "name")
        seen.add((name or "").casefold())
        out.append((name, _stage_probability(stage, errors, *path, "probability")))
    kinds = {stage.kind for stage in stages}
    if stages and not {WON, LOST} <= kinds:
        errors.add("INVALID_STAGES", "a pipeline needs a won and a lost stage", *at, "stages")
    if stages and OPEN not in kinds:
        errors.add("INVALID_STAGES", "a pipeline needs an open stage", *at, "stages")
    return out


async def _check_name(
    session: AsyncSession,
    name: str | None,
    pipeline_id: int | None,
    errors: Collector,
    at: tuple[str, ...],
) -> None:
    if name is None:
        return
    taken = await session.scalar(
        select(SalesPipeline.id).where(
            func.lower(SalesPipeline.name) == name.lower(), SalesPipeline.id != (pipeline_id or 0)
        )
    )
    if taken is not None:
        errors.add("NAME_TAKEN", "another pipeline has this name", *at, "name")


async def create_pipeline(
    session: AsyncSession, name: str, stages: list[NewStage], at: tuple[str, ...] = ("input",)
) -> SalesPipeline:
    """A new pipeline after the existing ones, with ``stages`` in the order given."""
    errors = Collector()
    clean = clean_text(name, errors, *at, "name", max_length=100, required=True)
    checked = _check_stages(stages, errors, at)
    await _check_name(session, clean, None, errors, at)
    errors.check()
    last = await session.scalar(select(func.max(SalesPipeline.position)))
    pipeline = SalesPipeline(name=clean, position=(last or 0) + 1)
    session.add(pipeline)
    await session.flush()
    for index, (stage, (stage_name, probability)) in enumerate(zip(stages, checked, strict=True)):
        session.add(
            SalesStage(
                pipeline_id=pipeline.id,
                name=stage_name,
                position=index,
                probability=probability,
                kind=stage.kind,
            )
        )
    await session.flush()
    return pipeline


# At most this many deals are named in the error refusing to remove (or change) their stage.
NAMED_DEALS = 10


async def _deals_in(session: AsyncSession, stage_ids: list[int]) -> dict[int, list[SalesDeal]]:
    found: dict[int, list[SalesDeal]] = {pk: [] for pk in stage_ids}
    if stage_ids:
        statement = (
            select(SalesDeal).where(SalesDeal.stage_id.in_(stage_ids)).order_by(SalesDeal.id)
        )
        for deal in await session.scalars(statement):
            found[deal.stage_id].append(deal)
    return found


def _named(stage: SalesStage, deals: list[SalesDeal]) -> str:
    names = ", ".join(
        f"{deal.name!r} ({to_global_id('Deal', deal.id)})"  # type: ignore[arg-type]
        for deal in deals[:NAMED_DEALS]
    )
    more = f" and {len(deals) - NAMED_DEALS} more" if len(deals) > NAMED_DEALS else ""
    return f"stage {stage.name!r} holds {len(deals)} deal(s): {names}{more}"


async def update_pipeline(
    session: AsyncSession,
    pipeline_id: int,
    name: str | None,
    stages: list[NewStage] | None,
    expected_version: int | None = None,
    at: tuple[str, ...] = ("input",),
    when: datetime | None = None,
) -> SalesPipeline:
    """Rename a pipeline, and with ``stages`` (the stages as they should be, in order: an
    existing one by its id, a new one without) rename, reorder, add and remove stages and
    change their probabilities and kinds.

    Deals are never moved or closed by an edit: a stage still holding deals can be neither
    removed nor change its kind (``STAGE_HAS_DEALS``, naming the deals; move them first). A
    removed stage is kept, marked removed, so the deals' stage history still shows it.
    """
    pipeline = await session.get(SalesPipeline, pipeline_id)
    if pipeline is None:
        raise fail("NOT_FOUND", "no such pipeline", *at, "id")
    check_version(pipeline, expected_version)
    errors = Collector()
    clean = None
    if name is not None:
        clean = clean_text(name, errors, *at, "name", max_length=100, required=True)
        await _check_name(session, clean, pipeline.id, errors, at)
    if stages is not None:
        await _edit_stages(session, pipeline, stages, errors, at, when or utcnow())
    errors.check()
    if clean is not None:
        pipeline.name = clean
    pipeline.version += 1
    await session.flush()
    return pipeline


async def _edit_stages(
    session: AsyncSession,
    pipeline: SalesPipeline,
    stages: list[NewStage],
    errors: Collector,
    at: tuple[str, ...],
    when: datetime,
) -> None:
    """Check the new stage list against the pipeline's live stages and their deals; apply it
    when nothing is wrong (the caller checks ``errors`` before flushing)."""
    checked = _check_stages(stages, errors, at)
    current = {stage.id: stage for stage in (await stages_of(session, [pipeline.id]))[pipeline.id]}
    kept: dict[int, int] = {}  # stage id -> index in the list
    for index, stage in enumerate(stages):
        if stage.id is None:
            continue
        path = (*at, "stages", str(index), "id")
        if stage.id not in current:
            errors.add("NOT_FOUND", "no such stage in this pipeline", *path)
        elif stage.id in kept:
            errors.add("DUPLICATE", "the stage is listed twice", *path)
        else:
            kept[stage.id] = index
    removed = [pk for pk in current if pk not in kept]
    changed = [pk for pk, index in kept.items() if stages[index].kind != current[pk].kind]
    holding = await _deals_in(session, removed + changed)
    for pk in removed:
        if holding[pk]:
            message = f"{_named(current[pk], holding[pk])}; move them before removing it"
            errors.add("STAGE_HAS_DEALS", message, *at, "stages")
    for pk in changed:
        if holding[pk]:
            message = f"{_named(current[pk], holding[pk])}; move them before changing its kind"
            errors.add("STAGE_HAS_DEALS", message, *at, "stages", str(kept[pk]), "kind")
    if errors.errors:
        return
    for pk in removed:
        current[pk].removed_at = when  # type: ignore[index]
    for index, (stage, (stage_name, probability)) in enumerate(zip(stages, checked, strict=True)):
        row = current[stage.id] if stage.id is not None else SalesStage(pipeline_id=pipeline.id)  # type: ignore[index]
        row.name, row.position, row.probability, row.kind = (
            stage_name,
            index,
            probability,
            stage.kind,
        )
        session.add(row)


async def pipelines(session: AsyncSession) -> list[SalesPipeline]:
    return list(
        await session.scalars(
            select(SalesPipeline).order_by(SalesPipeline.position, SalesPipeline.id)
        )
    )


async def pipelines_by_id(session: AsyncSession, ids: list[int]) -> dict[int, SalesPipeline]:
    if not ids:
        return {}
    rows = await session.scalars(select(SalesPipeline).where(SalesPipeline.id.in_(ids)))
    return {pipeline.id: pipeline for pipeline in rows}  # type: ignore[misc]


async def stages_of(session: AsyncSession, pipeline_ids: list[int]) -> dict[int, list[SalesStage]]:
    """Each pipeline's live stages in order (one statement)."""
    found: dict[int, list[SalesStage]] = {pk: [] for pk in pipeline_ids}
    statement = (
        select(SalesStage)
        .where(SalesStage.pipeline_id.in_(pipeline_ids), SalesStage.removed_at.is_(None))
        .order_by(SalesStage.pipeline_id, SalesStage.position)
    )
    for stage in await session.scalars(statement):
        found[stage.pipeline_id].append(stage)
    return found


async def stages_by_id(session: AsyncSession, ids: set[int]) -> dict[int, SalesStage]:
    """Stages by id, removed ones too (a deal's stage history names them)."""
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
    stage = await _first(session, pipeline_id, OPEN)  # type: ignore[arg-type]
    if stage is None:
        raise fail("NOT_FOUND", "no such pipeline", *path)
    return stage


async def won_stage(session: AsyncSession, pipeline_id: int) -> SalesStage:
    """The pipeline's first won stage (every pipeline has one, and its edits keep one)."""
    stage = await _first(session, pipeline_id, WON)
    if stage is None:
        raise RuntimeError(f"pipeline {pipeline_id} has no won stage")
    return stage


async def _first(session: AsyncSession, pipeline_id: int, kind: str) -> SalesStage | None:
    return await session.scalar(
        select(SalesStage)
        .where(
            SalesStage.pipeline_id == pipeline_id,
            SalesStage.kind == kind,
            SalesStage.removed_at.is_(None),
        )
        .order_by(SalesStage.position)
        .limit(1)
    )
