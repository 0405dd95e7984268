import {
  Bar,
  BarChart,
  CartesianGrid,
  Cell,
  Line,
  LineChart,
  Tooltip,
  XAxis,
  YAxis,
} from "recharts";
import { useQuery } from "urql";
import { Chart, DataTable } from "../charts";
import { ErrorNote } from "../errors";
import { money, percent } from "../format";
import { graphql } from "../gql";
import { type ModelQuality, modelQuality } from "../modelQuality";

const AnalyticsDashboardQuery = graphql(`
  query AnalyticsDashboard {
    analytics {
      rfmSegments {
        segment
        customers
        revenue {
          amount
          currency
        }
      }
      clvDistribution(buckets: 8) {
        lower {
          amount
          currency
        }
        upper {
          amount
        }
        customers
      }
      revenueByMonth {
        month
        revenue {
          amount
          currency
        }
        orders
      }
      repeatPurchaseRate
      churnBands {
        band
        customers
      }
      segmentProfiles {
        segment {
          id
          name
          description
          customers
        }
        recencyDays
        orders
        revenue {
          amount
          currency
        }
        predictedValue {
          amount
          currency
        }
      }
    }
    analyticsModels
  }
`);

const WIDTH = 560;
const HEIGHT = 260;
const FILL = "#1a4fb3";
const BAND_COLOURS = { LOW: "#2e7d32", MEDIUM: "#b26a00", HIGH: "#a11a1a" } as const;

/** The analytics plugin's reports as charts (Recharts), each with its figures in a table. */
export default function AnalyticsDashboard() {
  const [{ data, error }] = useQuery({ query: AnalyticsDashboardQuery });
  if (error) return <ErrorNote error={error} />;
  if (!data) return <p>Loading…</p>;
  const { rfmSegments, clvDistribution, revenueByMonth, repeatPurchaseRate } = data.analytics;
  const { churnBands, segmentProfiles } = data.analytics;
  const segments = segmentProfiles.map((profile) => ({
    name: profile.segment.name,
    customers: profile.segment.customers,
  }));
  const quality = modelQuality(data.analyticsModels);
  const buckets = clvDistribution.map((bucket) => ({
    label: bucket.upper
      ? `${Math.round(Number(bucket.lower.amount))}–${Math.round(Number(bucket.upper.amount))}`
      : `${Math.round(Number(bucket.lower.amount))}+`,
    customers: bucket.customers,
  }));
  const months = revenueByMonth.map((month) => ({
    month: month.month,
    revenue: Number(month.revenue.amount),
    label: money(month.revenue),
  }));

  return (
    <section aria-labelledby="analytics-dashboard-title" className="dashboard">
      <h1 id="analytics-dashboard-title">Analytics</h1>
      <p data-field="repeat-purchase-rate">
        Repeat purchase rate:{" "}
        {repeatPurchaseRate === null ? "—" : percent(repeatPurchaseRate)}
      </p>
      <div className="charts">
        <Chart id="rfm-chart" title="Customers per RFM segment">
          <BarChart
            width={WIDTH}
            height={HEIGHT}
            data={rfmSegments}
            margin={{ bottom: 60, left: 30 }}
          >
            <CartesianGrid strokeDasharray="3 3" />
            <XAxis dataKey="segment" interval={0} angle={-35} textAnchor="end" />
            <YAxis allowDecimals={false} />
            <Tooltip />
            <Bar dataKey="customers" name="Customers" fill={FILL} isAnimationActive={false} />
          </BarChart>
          <DataTable
            head={["Segment", "Customers", "Revenue"]}
            rows={rfmSegments.map((s) => [s.segment, s.customers, money(s.revenue)])}
          />
        </Chart>
        <Chart id="clv-chart" title="Predicted lifetime value (customers per bucket)">
          <BarChart width={WIDTH} height={HEIGHT} data={buckets} margin={{ bottom: 40, left: 20 }}>
            <CartesianGrid strokeDasharray="3 3" />
            <XAxis dataKey="label" interval={0} angle={-25} textAnchor="end" />
            <YAxis allowDecimals={false} />
            <Tooltip />
            <Bar dataKey="customers" name="Customers" fill={FILL} isAnimationActive={false} />
          </BarChart>
          <DataTable
            head={[`Value (${clvDistribution[0]?.lower.currency ?? ""})`, "Customers"]}
            rows={buckets.map((b) => [b.label, b.customers])}
          />
        </Chart>
        <Chart id="churn-chart" title="Customers per churn risk band">
          <BarChart width={WIDTH} height={HEIGHT} data={churnBands} margin={{ bottom: 10 }}>
            <CartesianGrid strokeDasharray="3 3" />
            <XAxis dataKey="band" interval={0} />
            <YAxis allowDecimals={false} />
            <Tooltip />
            <Bar dataKey="customers" name="Customers" isAnimationActive={false}>
              {churnBands.map((entry) => (
                <Cell key={entry.band} fill={BAND_COLOURS[entry.band]} />
              ))}
            </Bar>
          </BarChart>
          <DataTable
            head={["Band", "Customers"]}
            rows={churnBands.map((b) => [b.band, b.customers])}
          />
        </Chart>
        <Chart id="segments-chart" title="Customer segments (K-means): size and profile">
          <BarChart width={WIDTH} height={HEIGHT} data={segments} margin={{ bottom: 10 }}>
            <CartesianGrid strokeDasharray="3 3" />
            <XAxis dataKey="name" interval={0} />
            <YAxis allowDecimals={false} />
            <Tooltip />
            <Bar dataKey="customers" name="Customers" fill={FILL} isAnimationActive={false} />
          </BarChart>
          <DataTable
            head={[
              "Segment",
              "Customers",
              "Days since last order",
              "Orders",
              "Revenue",
              "Predicted value",
            ]}
            rows={segmentProfiles.map((p) => [
              p.segment.name,
              p.segment.customers,
              p.recencyDays,
              p.orders,
              money(p.revenue),
              p.predictedValue ? money(p.predictedValue) : "—",
            ])}
          />
        </Chart>
        <Chart id="revenue-chart" title="Revenue per month">
          <LineChart width={WIDTH} height={HEIGHT} data={months} margin={{ bottom: 30 }}>
            <CartesianGrid strokeDasharray="3 3" />
            <XAxis dataKey="month" angle={-25} textAnchor="end" />
            <YAxis />
            <Tooltip />
            <Line dataKey="revenue" name="Revenue" stroke={FILL} isAnimationActive={false} />
          </LineChart>
          <DataTable
            head={["Month", "Revenue", "Orders"]}
            rows={revenueByMonth.map((m) => [m.month, money(m.revenue), m.orders])}
          />
        </Chart>
        <QualityCharts quality={quality} />
      </div>
    </section>
  );
}

/** Model quality: the churn models' cross-validated ROC AUC and the recommendation candidates'
 * holdout NDCG@10 (the chosen one marked). */
function QualityCharts({ quality }: { quality: ModelQuality }) {
  return (
    <>
      <Chart id="auc-chart" title="Churn models: cross-validated ROC AUC">
        <BarChart width={WIDTH} height={HEIGHT} data={quality.churnAuc} margin={{ bottom: 30 }}>
          <CartesianGrid strokeDasharray="3 3" />
          <XAxis dataKey="model" interval={0} />
          <YAxis domain={[0, 1]} />
          <Tooltip />
          <Bar dataKey="auc" name="ROC AUC" fill={FILL} isAnimationActive={false} />
        </BarChart>
        <DataTable
          head={["Model", "ROC AUC"]}
          rows={quality.churnAuc.map((m) => [m.model, m.auc.toFixed(3)])}
        />
      </Chart>
      <Chart id="ndcg-chart" title="Recommenders: holdout NDCG@10">
        <BarChart
          width={WIDTH}
          height={HEIGHT}
          data={quality.ndcg}
          margin={{ bottom: 60, left: 30 }}
        >
          <CartesianGrid strokeDasharray="3 3" />
          <XAxis dataKey="model" interval={0} angle={-35} textAnchor="end" />
          <YAxis />
          <Tooltip />
          <Bar dataKey="ndcg" name="NDCG@10" fill={FILL} isAnimationActive={false} />
        </BarChart>
        <DataTable
          head={["Recommender", "NDCG@10"]}
          rows={quality.ndcg.map((m) => [
            m.chosen ? `${m.model} (chosen)` : m.model,
            m.ndcg.toFixed(3),
          ])}
        />
      </Chart>
    </>
  );
}
