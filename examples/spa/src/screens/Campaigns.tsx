import { Bar, BarChart, CartesianGrid, Legend, Tooltip, XAxis, YAxis } from "recharts";
import { useQuery } from "urql";
import { Chart } from "../charts";
import { ErrorNote } from "../errors";
import { money, percent } from "../format";
import { graphql } from "../gql";
import { useCan } from "../permissions";
import { SegmentBuilder } from "../sections/SegmentBuilder";

const CampaignsQuery = graphql(`
  query Campaigns {
    emailCampaigns {
      id
      name
      status
      segment {
        name
      }
      stats {
        recipients
        sent
        delivered
        opened
        clicked
        ordered
        unsubscribed
        revenue {
          amount
          currency
        }
        cost {
          amount
          currency
        }
        roi
      }
    }
  }
`);

/** The marketing plugin's e-mail campaigns with their funnel (sent, delivered, opened, clicked,
 * ordered) as a chart, and their attributed revenue and ROI. */
export default function Campaigns() {
  const canBuild = useCan("segments:write");
  const [{ data, error }] = useQuery({ query: CampaignsQuery });
  if (error) return <ErrorNote error={error} />;
  if (!data) return <p>Loading…</p>;
  const campaigns = data.emailCampaigns;
  const funnel = campaigns.map((c) => ({
    name: c.name,
    sent: c.stats.sent,
    delivered: c.stats.delivered,
    opened: c.stats.opened,
    clicked: c.stats.clicked,
    ordered: c.stats.ordered,
  }));
  return (
    <section aria-labelledby="campaigns-title" className="dashboard">
      <h1 id="campaigns-title">Campaigns</h1>
      <table aria-labelledby="campaigns-title" className="campaigns">
        <thead>
          <tr>
            <th scope="col">Campaign</th>
            <th scope="col">Segment</th>
            <th scope="col">Status</th>
            <th scope="col">Recipients</th>
            <th scope="col">Sent</th>
            <th scope="col">Opened</th>
            <th scope="col">Clicked</th>
            <th scope="col">Orders</th>
            <th scope="col">Revenue</th>
            <th scope="col">Cost</th>
            <th scope="col">ROI</th>
          </tr>
        </thead>
        <tbody>
          {campaigns.map((c) => (
            <tr key={c.id}>
              <td>{c.name}</td>
              <td>{c.segment?.name ?? "—"}</td>
              <td>{c.status}</td>
              <td>{c.stats.recipients}</td>
              <td>{c.stats.sent}</td>
              <td>{c.stats.opened}</td>
              <td>{c.stats.clicked}</td>
              <td>{c.stats.ordered}</td>
              <td>{c.stats.revenue.length ? c.stats.revenue.map(money).join(", ") : "—"}</td>
              <td>{money(c.stats.cost)}</td>
              <td>{c.stats.roi == null ? "—" : percent(c.stats.roi)}</td>
            </tr>
          ))}
        </tbody>
      </table>
      <Chart id="funnel-chart" title="Campaign funnel">
        <BarChart width={720} height={260} data={funnel}>
          <CartesianGrid strokeDasharray="3 3" />
          <XAxis dataKey="name" interval={0} />
          <YAxis allowDecimals={false} />
          <Tooltip />
          <Legend />
          <Bar dataKey="sent" name="Sent" fill="#1a4fb3" isAnimationActive={false} />
          <Bar dataKey="delivered" name="Delivered" fill="#3b6fd1" isAnimationActive={false} />
          <Bar dataKey="opened" name="Opened" fill="#2e7d32" isAnimationActive={false} />
          <Bar dataKey="clicked" name="Clicked" fill="#b26a00" isAnimationActive={false} />
          <Bar dataKey="ordered" name="Ordered" fill="#a11a1a" isAnimationActive={false} />
        </BarChart>
      </Chart>
      {canBuild && <SegmentBuilder />}
    </section>
  );
}
