import { type DragEvent, useEffect, useState } from "react";
import { Bar, BarChart, CartesianGrid, Legend, Tooltip, XAxis, YAxis } from "recharts";
import { useClient, useMutation, useQuery } from "urql";
import { Chart, DataTable } from "../charts";
import { ErrorNote } from "../errors";
import { DEAL_EVENTS } from "../eventTypes";
import { isoDay, money } from "../format";
import { graphql } from "../gql";
import { LiveBadge, useRecordsRefresh } from "../live";
import { useCan } from "../permissions";

const PipelineQuery = graphql(`
  query PipelineBoard {
    salesPipelines {
      id
      name
      stages {
        id
        name
        kind
        probability
      }
    }
  }
`);

/** One page of a stage's deals (a stage pages on its own, by cursor). */
const StageDealsQuery = graphql(`
  query StageDeals($stageId: ID!, $first: Int!, $after: String) {
    deals(filter: { stageIds: [$stageId] }, first: $first, after: $after) {
      totalCount
      pageInfo {
        hasNextPage
        endCursor
      }
      nodes {
        id
        name
        version
        amount {
          amount
          currency
        }
        stage {
          id
        }
        customer {
          name
        }
      }
    }
  }
`);

/** Deals a stage shows at first, and how many more each "Show more" adds. */
export const STAGE_PAGE = 10;

const MoveDeal = graphql(`
  mutation MoveDeal($input: MoveDealInput!) {
    moveDeal(input: $input) {
      deal {
        id
        version
        stage {
          id
        }
      }
      errors {
        code
        message
        field
      }
    }
  }
`);

const ForecastQuery = graphql(`
  query PipelineForecast($from: Date!, $to: Date!) {
    salesForecast(period: MONTH, from: $from, to: $to) {
      periods {
        start
        weighted {
          amount
          currency
        }
        committed {
          amount
          currency
        }
      }
    }
  }
`);

/** What a move needs of a deal: carried by its card (and by a drag, as JSON). */
interface Card {
  id: string;
  name: string;
  version: number;
  stageId: string;
}

/** The sales plugin's deals by stage, each stage paged by cursor ("Show more"). A deal moves by
 * dragging its card to another stage or, from the keyboard, with its "Move to" list; the move
 * carries the version the board showed as expectedVersion, so a deal someone else changed
 * meanwhile is a CONFLICT and the board reloads. Deals changed by anyone (events:read) are
 * read again live. */
export default function Pipeline() {
  const canMove = useCan("deals:write");
  const [{ data, error }] = useQuery({ query: PipelineQuery });
  const [{ fetching }, move] = useMutation(MoveDeal);
  const [problem, setProblem] = useState<string | null>(null);
  const [pipelineId, setPipelineId] = useState<string | null>(null);
  // The cursor each loaded page of a stage starts after (null: the first), by stage id.
  const [pages, setPages] = useState<Record<string, (string | null)[]>>({});
  // Bumped whenever the board is read again: the forecast, which names no deal, follows.
  const [changes, setChanges] = useState(0);
  const pipeline = data?.salesPipelines.find((p) => p.id === pipelineId) ?? data?.salesPipelines[0];
  const client = useClient();
  // Every loaded page of every stage, read again: a deal may have left one and joined another.
  const live = useRecordsRefresh(DEAL_EVENTS, () => {
    setChanges((n) => n + 1);
    return Promise.all(
      (pipeline?.stages ?? []).flatMap((stage) =>
        (pages[stage.id] ?? [null]).map((after) =>
          client
            .query(
              StageDealsQuery,
              { stageId: stage.id, first: STAGE_PAGE, after },
              { requestPolicy: "network-only" },
            )
            .toPromise(),
        ),
      ),
    );
  });
  if (error) return <ErrorNote error={error} />;
  if (!data) return <p>Loading…</p>;
  if (!pipeline) return <p>No pipeline yet.</p>;

  async function moveTo(deal: Card, stageId: string) {
    if (deal.stageId === stageId) return;
    const stage = pipeline!.stages.find((s) => s.id === stageId);
    const lostReason =
      stage?.kind === "LOST" ? window.prompt(`Why was ${deal.name} lost?`) ?? undefined : undefined;
    if (stage?.kind === "LOST" && !lostReason) return;
    const result = await move({
      input: { id: deal.id, stageId, expectedVersion: deal.version, lostReason },
    });
    const errors = result.data?.moveDeal.errors ?? [];
    if (errors.some((e) => e.code === "CONFLICT")) {
      setProblem(`${deal.name} was changed by someone else: the board shows it as it is now.`);
      live.refresh();
    } else {
      setProblem(errors.length ? errors.map((e) => e.message).join(" ") : null);
      // Both stages' pages are read again: the deal left one and joined the other.
      if (result.data?.moveDeal.deal) live.refresh();
    }
  }

  function dropOn(stageId: string) {
    return (event: DragEvent) => {
      event.preventDefault();
      try {
        const card = JSON.parse(event.dataTransfer.getData("application/json")) as Card;
        void moveTo(card, stageId);
      } catch {
        // Not one of our cards.
      }
    };
  }

  return (
    <section aria-labelledby="pipeline-title">
      <div className="title-row">
        <h1 id="pipeline-title">Pipeline</h1>
        <LiveBadge status={live.status} />
        {data.salesPipelines.length > 1 && (
          <p>
            <label htmlFor="pipeline-choice">Pipeline</label>
            <select
              id="pipeline-choice"
              value={pipeline.id}
              onChange={(event) => setPipelineId(event.target.value)}
            >
              {data.salesPipelines.map((p) => (
                <option key={p.id} value={p.id}>
                  {p.name}
                </option>
              ))}
            </select>
          </p>
        )}
      </div>
      {problem && (
        <p role="alert" className="error">
          {problem}
        </p>
      )}
      <div className="board" aria-busy={fetching}>
        {pipeline.stages.map((stage) => (
          <section
            key={stage.id}
            aria-labelledby={`stage-${stage.id}`}
            className="stage"
            data-stage={stage.name}
            onDragOver={(event) => canMove && event.preventDefault()}
            onDrop={dropOn(stage.id)}
          >
            <StageDeals
              stage={stage}
              stages={pipeline.stages}
              canMove={canMove}
              onMove={moveTo}
              pages={pages[stage.id] ?? [null]}
              onMore={(cursor) =>
                setPages((now) => ({ ...now, [stage.id]: [...(now[stage.id] ?? [null]), cursor] }))
              }
            />
          </section>
        ))}
      </div>
      <Forecast changes={changes} />
    </section>
  );
}

type Stage = { id: string; name: string; probability: number };

/** A stage's heading (with its deal count) and its deals, page after page by cursor. */
function StageDeals(props: {
  stage: Stage;
  stages: Stage[];
  canMove: boolean;
  onMove: (deal: Card, stageId: string) => void;
  pages: (string | null)[];
  onMore: (cursor: string | null) => void;
}) {
  const { stage, pages, onMore, ...card } = props;
  const [ends, setEnds] = useState<Record<number, { more: boolean; cursor: string | null }>>({});
  const [total, setTotal] = useState<number | null>(null);
  const last = ends[pages.length - 1];
  return (
    <>
      <h2 id={`stage-${stage.id}`}>
        {stage.name} ({total ?? "…"})
      </h2>
      <p className="hint">{stage.probability}% to win</p>
      <ul>
        {pages.map((after, index) => (
          <StagePage
            key={after ?? "first"}
            after={after}
            stage={stage}
            {...card}
            onPage={(info) => {
              if (index === 0) setTotal(info.total);
              setEnds((now) =>
                now[index]?.cursor === info.cursor && now[index]?.more === info.more
                  ? now
                  : { ...now, [index]: { more: info.more, cursor: info.cursor } },
              );
            }}
          />
        ))}
      </ul>
      {last?.more && (
        <button type="button" onClick={() => onMore(last.cursor)}>
          Show more in {stage.name}
        </button>
      )}
    </>
  );
}

function StagePage(props: {
  stage: Stage;
  stages: Stage[];
  canMove: boolean;
  after: string | null;
  onMove: (deal: Card, stageId: string) => void;
  onPage: (info: { total: number; more: boolean; cursor: string | null }) => void;
}) {
  const { stage, canMove } = props;
  const [{ data, error }] = useQuery({
    query: StageDealsQuery,
    variables: { stageId: stage.id, first: STAGE_PAGE, after: props.after },
  });
  const page = data?.deals;
  const report = props.onPage;
  useEffect(() => {
    if (page)
      report({ total: page.totalCount, more: page.pageInfo.hasNextPage, cursor: page.pageInfo.endCursor ?? null });
  }, [page, report]);
  if (error)
    return (
      <li>
        <ErrorNote error={error} />
      </li>
    );
  if (!page) return null;
  return (
    <>
      {page.nodes.map((deal) => {
        const card: Card = { id: deal.id, name: deal.name, version: deal.version, stageId: stage.id };
        return (
          <li
            key={deal.id}
            className="deal"
            draggable={canMove}
            data-deal={deal.name}
            onDragStart={(event) => event.dataTransfer.setData("application/json", JSON.stringify(card))}
          >
            <strong>{deal.name}</strong>
            <span>{money(deal.amount)}</span>
            <span className="hint">{deal.customer?.name ?? ""}</span>
            {canMove && (
              <select
                aria-label={`Move ${deal.name} to`}
                value={stage.id}
                onChange={(event) => void props.onMove(card, event.target.value)}
              >
                {props.stages.map((s) => (
                  <option key={s.id} value={s.id}>
                    {s.name}
                  </option>
                ))}
              </select>
            )}
          </li>
        );
      })}
    </>
  );
}

/** The weighted pipeline and the won amounts per month, six months back and six ahead, in the
 * currency most of it is in. */
function Forecast({ changes }: { changes: number }) {
  const now = Date.now();
  const [{ data, error }, refetch] = useQuery({
    query: ForecastQuery,
    variables: {
      from: isoDay(new Date(now - 182 * 86_400_000)),
      to: isoDay(new Date(now + 183 * 86_400_000)),
    },
  });
  // A change of the board (a move of ours, or anyone's heard of live or revealed by a
  // conflict) changes the forecast, whose result names no deal for the cache to notice.
  useEffect(() => {
    if (changes > 0) refetch({ requestPolicy: "network-only" });
  }, [changes, refetch]);
  if (error) return <ErrorNote error={error} />;
  if (!data) return null;
  const periods = data.salesForecast.periods;
  const currency =
    periods.flatMap((p) => [...p.weighted, ...p.committed]).map((m) => m.currency)[0] ?? "";
  const amount = (monies: { amount: string; currency: string }[]) =>
    Number(monies.find((m) => m.currency === currency)?.amount ?? 0);
  const rows = periods.map((p) => ({
    month: p.start.slice(0, 7),
    weighted: amount(p.weighted),
    committed: amount(p.committed),
  }));
  return (
    <Chart id="forecast-chart" title={`Forecast per month (${currency})`}>
      <BarChart width={720} height={260} data={rows}>
        <CartesianGrid strokeDasharray="3 3" />
        <XAxis dataKey="month" />
        <YAxis />
        <Tooltip />
        <Legend />
        <Bar dataKey="weighted" name="Weighted pipeline" fill="#1a4fb3" isAnimationActive={false} />
        <Bar dataKey="committed" name="Won" fill="#2e7d32" isAnimationActive={false} />
      </BarChart>
      <DataTable
        head={["Month", "Weighted pipeline", "Won"]}
        rows={rows.map((r) => [r.month, r.weighted.toFixed(2), r.committed.toFixed(2)])}
      />
    </Chart>
  );
}
