import { useQuery } from "urql";
import { ErrorNote } from "../errors";
import { money, percent } from "../format";
import { graphql } from "../gql";

const CustomerAnalyticsQuery = graphql(`
  query CustomerAnalytics($id: ID!) {
    customer(id: $id) {
      id
      rfm {
        recencyDays
        frequency
        monetary {
          amount
          currency
        }
        r
        f
        m
        segment
      }
      segment {
        name
        description
      }
      lifetimeValue {
        value {
          amount
          currency
        }
        historicalValue {
          amount
          currency
        }
        expectedPurchases
        probabilityAlive
      }
      churnRisk {
        probability
        band
        factors {
          name
          impact
        }
      }
      recommendations(first: 5) {
        score
        reason
        product {
          id
          name
        }
      }
    }
  }
`);

/** The analytics plugin's view of one customer (shown with analytics:read, which only a server
 * running that plugin grants): RFM, predicted lifetime value, churn risk, recommendations. */
export function AnalyticsPanel({ id }: { id: string }) {
  const [{ data, error }] = useQuery({ query: CustomerAnalyticsQuery, variables: { id } });
  if (error) return <ErrorNote error={error} />;
  const customer = data?.customer;
  if (!customer) return null;
  const { rfm, lifetimeValue: clv, churnRisk: churn, recommendations } = customer;
  return (
    <section aria-labelledby="analytics-title" className="analytics-panel">
      <h2 id="analytics-title">Analytics</h2>
      <div className="cards">
        <section aria-labelledby="rfm-title" className="card">
          <h3 id="rfm-title">RFM</h3>
          {rfm ? (
            <dl className="profile">
              <dt>Segment</dt>
              <dd data-field="rfm-segment">{rfm.segment}</dd>
              <dt>Scores (R F M)</dt>
              <dd data-field="rfm-scores">
                {rfm.r} {rfm.f} {rfm.m}
              </dd>
              <dt>Last order</dt>
              <dd>{rfm.recencyDays} days ago</dd>
              <dt>Orders</dt>
              <dd>{rfm.frequency}</dd>
              <dt>Revenue</dt>
              <dd>{money(rfm.monetary)}</dd>
              {customer.segment && (
                <>
                  <dt>Cluster</dt>
                  <dd title={customer.segment.description}>{customer.segment.name}</dd>
                </>
              )}
            </dl>
          ) : (
            <p>No RFM scores: no orders when the models were trained.</p>
          )}
        </section>
        <section aria-labelledby="clv-title" className="card">
          <h3 id="clv-title">Lifetime value</h3>
          {clv ? (
            <dl className="profile">
              <dt>Predicted (1 year)</dt>
              <dd data-field="clv-value">{money(clv.value)}</dd>
              <dt>P(alive)</dt>
              <dd data-field="p-alive">{percent(clv.probabilityAlive)}</dd>
              <dt>Expected purchases</dt>
              <dd>{clv.expectedPurchases.toFixed(2)}</dd>
              <dt>Historical value</dt>
              <dd>{money(clv.historicalValue)}</dd>
            </dl>
          ) : (
            <p>No prediction: the models are not trained yet.</p>
          )}
        </section>
        <section aria-labelledby="churn-title" className="card">
          <h3 id="churn-title">Churn risk</h3>
          {churn ? (
            <>
              <p data-field="churn-risk">
                <strong>{churn.band}</strong> ({percent(churn.probability)})
              </p>
              <table aria-labelledby="churn-title">
                <thead>
                  <tr>
                    <th scope="col">Factor</th>
                    <th scope="col">Impact</th>
                  </tr>
                </thead>
                <tbody>
                  {churn.factors.map((factor) => (
                    <tr key={factor.name}>
                      <td>{factor.name}</td>
                      <td>
                        {factor.impact > 0 ? "+" : ""}
                        {percent(factor.impact)}
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </>
          ) : (
            <p>No churn score: the models are not trained yet.</p>
          )}
        </section>
      </div>
      <section aria-labelledby="recommendations-title">
        <h3 id="recommendations-title">Recommendations</h3>
        {recommendations?.length ? (
          <ol className="recommendations">
            {recommendations.map((rec) => (
              <li key={rec.product.id}>
                <strong>{rec.product.name}</strong> <span className="reason">{rec.reason}</span>
              </li>
            ))}
          </ol>
        ) : (
          <p>No recommendations yet.</p>
        )}
      </section>
    </section>
  );
}
