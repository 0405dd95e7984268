import { useEffect, useState } from "react";
import { CartesianGrid, Legend, Line, LineChart, Tooltip, XAxis, YAxis } from "recharts";
import { useClient, useQuery } from "urql";
import { Chart, DataTable } from "../charts";
import { ErrorNote } from "../errors";
import { TICKET_EVENTS } from "../eventTypes";
import { isoDay, when } from "../format";
import { graphql } from "../gql";
import { LiveBadge, useRecordsRefresh } from "../live";
import { customerHref } from "../route";

const TicketQueueQuery = graphql(`
  query TicketQueue($first: Int!, $after: String) {
    tickets(
      filter: { statuses: [NEW, OPEN, PENDING] }
      orderBy: { field: PRIORITY, direction: DESC }
      first: $first
      after: $after
    ) {
      totalCount
      pageInfo {
        hasNextPage
        endCursor
      }
      nodes {
        id
        subject
        status
        priority
        createdAt
        customer {
          id
          name
        }
        sla {
          state
          remaining
        }
      }
    }
  }
`);

const ServiceTrendQuery = graphql(`
  query ServiceTrend($from: Date!, $to: Date!) {
    serviceMetrics(from: $from, to: $to, groupBy: MONTH) {
      start
      csat
      csatResponses
      nps
      npsResponses
    }
  }
`);

/** How often the queue asks the API again: SLA clocks run in business minutes, which only the
 * server can count, so the countdowns are refreshed from it rather than ticked here. */
const REFRESH_MS = 60_000;

/** `125` -> "2 h 5 min left", `-30` -> "30 min overdue": business minutes to the next target. */
function countdown(minutes: number | null | undefined): string {
  if (minutes === null || minutes === undefined) return "—";
  const size = Math.abs(minutes);
  const text = size >= 60 ? `${Math.floor(size / 60)} h ${size % 60} min` : `${size} min`;
  return minutes >= 0 ? `${text} left` : `${text} overdue`;
}

/** Tickets the queue shows at first, and how many more each "Show more" adds. */
export const QUEUE_PAGE = 25;

interface Info {
  total: number;
  more: boolean;
  cursor: string | null;
}

/** One page of the queue (its own rows), refreshed every minute for its SLA countdowns. */
function QueuePage(props: { after: string | null; onPage: (info: Info) => void }) {
  const [{ data, error }, refresh] = useQuery({
    query: TicketQueueQuery,
    variables: { first: QUEUE_PAGE, after: props.after },
  });
  useEffect(() => {
    const timer = setInterval(() => refresh({ requestPolicy: "network-only" }), REFRESH_MS);
    return () => clearInterval(timer);
  }, [refresh]);
  const queue = data?.tickets;
  const report = props.onPage;
  useEffect(() => {
    if (queue)
      report({
        total: queue.totalCount,
        more: queue.pageInfo.hasNextPage,
        cursor: queue.pageInfo.endCursor ?? null,
      });
  }, [queue, report]);
  if (error)
    return (
      <tbody>
        <tr>
          <td colSpan={6}>
            <ErrorNote error={error} />
          </td>
        </tr>
      </tbody>
    );
  if (!queue) return null;
  return (
    <tbody>
      {queue.nodes.map((ticket) => (
        <tr key={ticket.id}>
          <td>{ticket.subject}</td>
          <td>
            <a href={customerHref(ticket.customer.id)}>{ticket.customer.name}</a>
          </td>
          <td>{ticket.priority}</td>
          <td>{ticket.status}</td>
          <td data-sla={ticket.sla?.state ?? "NONE"}>
            {ticket.sla ? `${ticket.sla.state}: ${countdown(ticket.sla.remaining)}` : "—"}
          </td>
          <td>{when(ticket.createdAt)}</td>
        </tr>
      ))}
    </tbody>
  );
}

const score = (value: number | null | undefined) => (value == null ? "—" : value.toFixed(1));

/** The service plugin's open tickets, most urgent first, with their SLA countdowns (kept up to
 * date live), and the CSAT and NPS trend of the last twelve months. */
export default function Tickets() {
  // The cursor each loaded page of the queue starts after (null: the first).
  const [pages, setPages] = useState<(string | null)[]>([null]);
  const [ends, setEnds] = useState<Record<number, Info>>({});
  const today = new Date();
  const yearAgo = new Date(today.getTime() - 365 * 86_400_000);
  const [{ data: trend, error: trendError }] = useQuery({
    query: ServiceTrendQuery,
    variables: { from: isoDay(yearAgo), to: isoDay(today) },
  });
  const first = ends[0];
  const last = ends[pages.length - 1];
  // A ticket opened, changed or settled by anyone (events:read): every loaded page is read again.
  const client = useClient();
  const live = useRecordsRefresh(TICKET_EVENTS, () =>
    Promise.all(
      pages.map((after) =>
        client
          .query(TicketQueueQuery, { first: QUEUE_PAGE, after }, { requestPolicy: "network-only" })
          .toPromise(),
      ),
    ),
  );

  return (
    <section aria-labelledby="tickets-title" className="dashboard">
      <div className="title-row">
        <h1 id="tickets-title">Tickets</h1>
        <LiveBadge status={live.status} />
      </div>
      <section aria-labelledby="queue-title">
        <h2 id="queue-title">Open queue ({first ? first.total : "…"})</h2>
        <table aria-labelledby="queue-title">
          <thead>
            <tr>
              <th scope="col">Subject</th>
              <th scope="col">Customer</th>
              <th scope="col">Priority</th>
              <th scope="col">Status</th>
              <th scope="col">SLA</th>
              <th scope="col">Opened</th>
            </tr>
          </thead>
          {pages.map((after, index) => (
            <QueuePage
              key={after ?? "first"}
              after={after}
              onPage={(info) =>
                setEnds((now) =>
                  now[index] &&
                  now[index].total === info.total &&
                  now[index].more === info.more &&
                  now[index].cursor === info.cursor
                    ? now
                    : { ...now, [index]: info },
                )
              }
            />
          ))}
        </table>
        {last?.more && (
          <p>
            <button type="button" onClick={() => setPages((now) => [...now, last.cursor])}>
              Show {QUEUE_PAGE} more tickets
            </button>
          </p>
        )}
      </section>
      {trendError && <ErrorNote error={trendError} />}
      {trend && (
        <Chart id="trend-chart" title="CSAT and NPS per month">
          <LineChart width={720} height={260} data={trend.serviceMetrics}>
            <CartesianGrid strokeDasharray="3 3" />
            <XAxis dataKey="start" />
            <YAxis domain={[-100, 100]} />
            <Tooltip />
            <Legend />
            <Line dataKey="csat" name="CSAT %" stroke="#1a4fb3" isAnimationActive={false} />
            <Line dataKey="nps" name="NPS" stroke="#b26a00" isAnimationActive={false} />
          </LineChart>
          <DataTable
            head={["Month", "CSAT %", "CSAT answers", "NPS", "NPS answers"]}
            rows={trend.serviceMetrics.map((p) => [
              p.start,
              score(p.csat),
              p.csatResponses,
              score(p.nps),
              p.npsResponses,
            ])}
          />
        </Chart>
      )}
    </section>
  );
}
