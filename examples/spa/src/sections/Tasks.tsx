import { useClient, useQuery } from "urql";
import { ErrorNote } from "../errors";
import { TASK_EVENTS } from "../eventTypes";
import { when } from "../format";
import { graphql } from "../gql";
import { useRecordsRefresh } from "../live";

const CustomerTasksQuery = graphql(`
  query CustomerTasks($id: ID!) {
    salesTasks(filter: { customerId: $id }, first: 20) {
      totalCount
      nodes {
        id
        title
        dueAt
        status
        overdue
      }
    }
  }
`);

/** The sales plugin's tasks about this customer (shown with tasks:read). */
export function Tasks({ id }: { id: string }) {
  const [{ data, error }] = useQuery({ query: CustomerTasksQuery, variables: { id } });
  // Any changed by anyone while shown (events:read): read again, coalesced. The events name the
  // record, not its customer, so another customer's change costs a re-read here too.
  const client = useClient();
  const live = useRecordsRefresh(TASK_EVENTS, () =>
    client.query(CustomerTasksQuery, { id }, { requestPolicy: "network-only" }).toPromise(),
  );
  if (error) return <ErrorNote error={error} />;
  const tasks = data?.salesTasks;
  if (!tasks) return null;
  return (
    <section aria-labelledby="tasks-title" data-live-status={live.status}>
      <h2 id="tasks-title">Tasks ({tasks.totalCount})</h2>
      <ul className="tasks">
        {tasks.nodes.map((task) => (
          <li key={task.id}>
            {task.title} ({task.status}, due {when(task.dueAt)}
            {task.overdue ? <strong className="error">, overdue</strong> : null})
          </li>
        ))}
      </ul>
    </section>
  );
}
