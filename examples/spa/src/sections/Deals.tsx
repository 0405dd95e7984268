import { useClient, useQuery } from "urql";
import { ErrorNote } from "../errors";
import { DEAL_EVENTS } from "../eventTypes";
import { money } from "../format";
import { graphql } from "../gql";
import { useRecordsRefresh } from "../live";

const CustomerDealsQuery = graphql(`
  query CustomerDeals($id: ID!) {
    customer(id: $id) {
      id
      openDealValue {
        amount
        currency
      }
      deals {
        id
        name
        status
        amount {
          amount
          currency
        }
        stage {
          name
        }
        expectedCloseDate
      }
    }
  }
`);

/** The sales plugin's deals with this customer (shown with deals:read). */
export function Deals({ id }: { id: string }) {
  const [{ data, error }] = useQuery({ query: CustomerDealsQuery, variables: { id } });
  // Any changed by anyone while shown (events:read): read again, coalesced. The events name the
  // record, not its customer, so another customer's change costs a re-read here too.
  const client = useClient();
  const live = useRecordsRefresh(DEAL_EVENTS, () =>
    client.query(CustomerDealsQuery, { id }, { requestPolicy: "network-only" }).toPromise(),
  );
  if (error) return <ErrorNote error={error} />;
  const customer = data?.customer;
  if (!customer) return null;
  return (
    <section aria-labelledby="deals-title" data-live-status={live.status}>
      <h2 id="deals-title">Deals ({customer.deals.length})</h2>
      {customer.openDealValue.length > 0 && (
        <p>Open: {customer.openDealValue.map(money).join(", ")}</p>
      )}
      <table aria-labelledby="deals-title">
        <thead>
          <tr>
            <th scope="col">Deal</th>
            <th scope="col">Stage</th>
            <th scope="col">Status</th>
            <th scope="col">Amount</th>
            <th scope="col">Expected close</th>
          </tr>
        </thead>
        <tbody>
          {customer.deals.map((deal) => (
            <tr key={deal.id}>
              <td>{deal.name}</td>
              <td>{deal.stage.name}</td>
              <td>{deal.status}</td>
              <td>{money(deal.amount)}</td>
              <td>{deal.expectedCloseDate ?? "—"}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}
