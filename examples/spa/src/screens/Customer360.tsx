import { useClient, useQuery } from "urql";
import { ErrorNote } from "../errors";
import { graphql } from "../gql";
import { when, money } from "../format";
import { LiveBadge, useLiveRefresh } from "../live";
import { useCan } from "../permissions";
import { editCustomerHref } from "../route";
import { AnalyticsPanel } from "../sections/AnalyticsPanel";
import { Consents } from "../sections/Consents";
import { Deals } from "../sections/Deals";
import { Tasks } from "../sections/Tasks";
import { Tickets } from "../sections/Tickets";

const Customer360Query = graphql(`
  query Customer360($id: ID!, $withOrders: Boolean!, $withInteractions: Boolean!) {
    customer(id: $id) {
      id
      name
      email
      phone
      company
      lifecycleStage
      tags
      createdAt
      updatedAt
      version
      consents {
        id
        channel
        granted
        source
        actor
        recordedAt
      }
      orders(first: 10) @include(if: $withOrders) {
        totalCount
        nodes {
          id
          number
          status
          placedAt
          total {
            amount
            currency
          }
          lines {
            quantity
            product {
              name
            }
            lineTotal {
              amount
              currency
            }
          }
        }
      }
      interactions(first: 20) @include(if: $withInteractions) {
        totalCount
        nodes {
          id
          channel
          direction
          subject
          occurredAt
        }
      }
    }
  }
`);

const CustomerChanged = graphql(`
  subscription CustomerChanged($id: ID!, $after: String) {
    customerChanged(id: $id, after: $after) {
      id
      type
      entityType
      entityId
      actor
      occurredAt
      cursor
    }
  }
`);

/** One customer: profile, latest orders and interactions, and the plugins' sections. A section
 * whose permission the key lacks is left out (the API would answer FORBIDDEN); a plugin's
 * permission is granted only where that plugin runs, so its section also says it is there. */
export default function Customer360({ id }: { id: string }) {
  const withOrders = useCan("orders:read");
  const withInteractions = useCan("interactions:read");
  const canEdit = useCan("customers:write");
  const withAnalytics = useCan("analytics:read");
  const withDeals = useCan("deals:read");
  const withTasks = useCan("tasks:read");
  const withTickets = useCan("tickets:read");
  const variables = { id, withOrders, withInteractions };
  const [{ data, error }] = useQuery({ query: Customer360Query, variables });
  // Changed by anyone while open (events:read): read again, so the screen shows it as it is now.
  const client = useClient();
  const live = useLiveRefresh(CustomerChanged, { id }, () =>
    client.query(Customer360Query, variables, { requestPolicy: "network-only" }).toPromise(),
  );
  if (error) return <ErrorNote error={error} />;
  if (!data) return <p>Loading…</p>;
  const customer = data.customer;
  if (!customer) return <p role="alert">No customer has this id.</p>;
  return (
    <article aria-labelledby="customer-name" className="customer-360">
      <p>
        <a href="#/customers">← Customers</a>
      </p>
      <div className="title-row">
        <h1 id="customer-name">{customer.name}</h1>
        <LiveBadge status={live.status} />
        {canEdit && (
          <a className="button" href={editCustomerHref(customer.id)}>
            Edit
          </a>
        )}
      </div>
      <section aria-labelledby="profile-title">
        <h2 id="profile-title">Profile</h2>
        <dl className="profile">
          <dt>E-mail</dt>
          <dd data-field="email">{customer.email ?? "—"}</dd>
          <dt>Phone</dt>
          <dd data-field="phone">{customer.phone ?? "—"}</dd>
          <dt>Company</dt>
          <dd data-field="company">{customer.company ?? "—"}</dd>
          <dt>Lifecycle stage</dt>
          <dd>{customer.lifecycleStage}</dd>
          <dt>Tags</dt>
          <dd>{customer.tags.length ? customer.tags.join(", ") : "—"}</dd>
          <dt>Customer since</dt>
          <dd>{when(customer.createdAt)}</dd>
          <dt>Version</dt>
          <dd data-field="version">{customer.version}</dd>
        </dl>
      </section>
      <Consents
        customerId={customer.id}
        consents={customer.consents}
        canRecord={canEdit}
        onRecorded={live.refresh}
      />
      {withAnalytics && <AnalyticsPanel id={customer.id} />}
      {customer.orders && (
        <section aria-labelledby="orders-title">
          <h2 id="orders-title">Orders ({customer.orders.totalCount})</h2>
          <table>
            <thead>
              <tr>
                <th scope="col">Number</th>
                <th scope="col">Placed</th>
                <th scope="col">Status</th>
                <th scope="col">Lines</th>
                <th scope="col">Total</th>
              </tr>
            </thead>
            <tbody>
              {customer.orders.nodes.map((order) => (
                <tr key={order.id}>
                  <td>{order.number}</td>
                  <td>{when(order.placedAt)}</td>
                  <td>{order.status}</td>
                  <td>
                    <ul className="lines">
                      {order.lines.map((line, index) => (
                        <li key={index}>
                          {line.quantity} × {line.product.name} ({money(line.lineTotal)})
                        </li>
                      ))}
                    </ul>
                  </td>
                  <td>{money(order.total)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </section>
      )}
      {customer.interactions && (
        <section aria-labelledby="interactions-title">
          <h2 id="interactions-title">Interactions ({customer.interactions.totalCount})</h2>
          <ol className="timeline">
            {customer.interactions.nodes.map((interaction) => (
              <li key={interaction.id}>
                <time dateTime={interaction.occurredAt}>{when(interaction.occurredAt)}</time>{" "}
                <span className="channel">
                  {interaction.channel} {interaction.direction}
                </span>{" "}
                {interaction.subject ?? ""}
              </li>
            ))}
          </ol>
        </section>
      )}
      {withDeals && <Deals id={customer.id} />}
      {withTasks && <Tasks id={customer.id} />}
      {withTickets && <Tickets id={customer.id} />}
    </article>
  );
}
