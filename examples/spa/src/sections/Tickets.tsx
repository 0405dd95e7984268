import { useClient, useQuery } from "urql";
import { ErrorNote } from "../errors";
import { TICKET_EVENTS } from "../eventTypes";
import { when } from "../format";
import { graphql } from "../gql";
import { useRecordsRefresh } from "../live";

const CustomerTicketsQuery = graphql(`
  query CustomerTickets($id: ID!) {
    customer(id: $id) {
      id
      openTicketCount
      tickets {
        id
        subject
        status
        priority
        createdAt
        sla {
          state
        }
      }
    }
  }
`);

/** The service plugin's tickets of this customer (shown with tickets:read). */
export function Tickets({ id }: { id: string }) {
  const [{ data, error }] = useQuery({ query: CustomerTicketsQuery, variables: { id } });
  // Any changed by anyone while shown (events:read): read again, coalesced. The events name the
  // record, not its customer, so another customer's change costs a re-read here too.
  const client = useClient();
  const live = useRecordsRefresh(TICKET_EVENTS, () =>
    client.query(CustomerTicketsQuery, { id }, { requestPolicy: "network-only" }).toPromise(),
  );
  if (error) return <ErrorNote error={error} />;
  const customer = data?.customer;
  if (!customer) return null;
  return (
    <section aria-labelledby="tickets-title" data-live-status={live.status}>
      <h2 id="tickets-title">
        Tickets ({customer.tickets.length}, {customer.openTicketCount} open)
      </h2>
      <table aria-labelledby="tickets-title">
        <thead>
          <tr>
            <th scope="col">Subject</th>
            <th scope="col">Status</th>
            <th scope="col">Priority</th>
            <th scope="col">SLA</th>
            <th scope="col">Opened</th>
          </tr>
        </thead>
        <tbody>
          {customer.tickets.map((ticket) => (
            <tr key={ticket.id}>
              <td>{ticket.subject}</td>
              <td>{ticket.status}</td>
              <td>{ticket.priority}</td>
              <td>{ticket.sla?.state ?? "—"}</td>
              <td>{when(ticket.createdAt)}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}
