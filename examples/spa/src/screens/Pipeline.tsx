import { type DragEvent, useEffect, useState } from "react";
import { Bar, BarChart, CartesianGrid, Legend, Tooltip, XAxis, YAxis } from "recharts";
import { useMutation, useQuery } from "urql";
import { Chart, DataTable } from "../charts";
import { ErrorNote } from "../errors";
import { isoDay, money } from "../format";
import { graphql } from "../gql";
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
    deals(first: 100) {
      nodes {
        id
        name
        version
        amount {
          amount
          currency
        }
        pipeline {
          id
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

type Deal = NonNullable<ReturnType<typeof useBoard>["deals"]>[number];

function useBoard() {
  const [{ data, error }, reload] = useQuery({ query: PipelineQuery });
  return { data, error, reload, deals: data?.deals.nodes };
}

/** The sales plugin's deals by stage. A deal moves by dragging its card to another stage or, from
 * the keyboard, with its "Move to" list; the move carries the version the board showed as
 * expectedVersion, so a deal someone else changed meanwhile is a CONFLICT and the board reloads. */
export default function Pipeline() {
  const canMove = useCan("deals:write");
  const { data, error, reload, deals } = useBoard();
  const [{ fetching }, move] = useMutation(MoveDeal);
  const [problem, setProblem] = useState<string | null>(null);
  const [pipelineId, setPipelineId] = useState<string | null>(null);
  const [moves, setMoves] = useState(0);
  if (error) return <ErrorNote error={error} />;
  if (!data || !deals) return <p>Loading…</p>;
  const pipeline = data.salesPipelines.find((p) => p.id === pipelineId) ?? data.salesPipelines[0];
  if (!pipeline) return <p>No pipeline yet.</p>;

  async function moveTo(deal: Deal, stageId: string) {
    if (deal.stage.id === stageId) return;
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
      reload({ requestPolicy: "network-only" });
      setMoves((n) => n + 1);
    } else {
      setProblem(errors.length ? errors.map((e) => e.message).join(" ") : null);
      if (result.data?.moveDeal.deal) setMoves((n) => n + 1);
    }
  }

  function dropOn(stageId: string) {
    return (event: DragEvent) => {
      event.preventDefault();
      const deal = deals!.find((d) => d.id === event.dataTransfer.getData("text/plain"));
      if (deal) void moveTo(deal, stageId);
    };
  }

  return (
    <section aria-labelledby="pipeline-title">
      <div className="title-row">
        <h1 id="pipeline-title">Pipeline</h1>
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
        {pipeline.stages.map((stage) => {
          const inStage = deals.filter((d) => d.stage.id === stage.id);
          return (
            <section
              key={stage.id}
              aria-labelledby={`stage-${stage.id}`}
              className="stage"
              data-stage={stage.name}
              onDragOver={(event) => canMove && event.preventDefault()}
              onDrop={dropOn(stage.id)}
            >
              <h2 id={`stage-${stage.id}`}>
                {stage.name} ({inStage.length})
              </h2>
              <p className="hint">{stage.probability}% to win</p>
              <ul>
                {inStage.map((deal) => (
                  <li
                    key={deal.id}
                    className="deal"
                    draggable={canMove}
                    data-deal={deal.name}
                    onDragStart={(event) => event.dataTransfer.setData("text/plain", deal.id)}
                  >
                    <strong>{deal.name}</strong>
                    <span>{money(deal.amount)}</span>
                    <span className="hint">{deal.customer?.name ?? ""}</span>
                    {canMove && (
                      <select
                        aria-label={`Move ${deal.name} to`}
                        value={stage.id}
                        onChange={(event) => void moveTo(deal, event.target.value)}
                      >
                        {pipeline.stages.map((s) => (
                          <option key={s.id} value={s.id}>
                            {s.name}
                          </option>
                        ))}
                      </select>
                    )}
                  </li>
                ))}
              </ul>
            </section>
          );
        })}
      </div>
      <Forecast moves={moves} />
    </section>
  );
}

/** The weighted pipeline and the won amounts per month, six months back and six ahead, in the
 * currency most of it is in. */
function Forecast({ moves }: { moves: number }) {
  const now = Date.now();
  const [{ data, error }, refetch] = useQuery({
    query: ForecastQuery,
    variables: {
      from: isoDay(new Date(now - 182 * 86_400_000)),
      to: isoDay(new Date(now + 183 * 86_400_000)),
    },
  });
  // A move (ours, or someone else's a conflict revealed) changes the forecast, whose result
  // names no deal for the cache to notice.
  useEffect(() => {
    if (moves > 0) refetch({ requestPolicy: "network-only" });
  }, [moves, refetch]);
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
