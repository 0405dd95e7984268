import { useEffect, useState } from "react";
import { useQuery } from "urql";
import { ErrorNote } from "../errors";
import { graphql } from "../gql";
import { customerHref } from "../route";

export const PAGE_SIZE = 20;

const CustomersQuery = graphql(`
  query CustomersPage($search: String, $first: Int, $after: String, $last: Int, $before: String) {
    customers(
      filter: { search: $search }
      first: $first
      after: $after
      last: $last
      before: $before
    ) {
      totalCount
      pageInfo {
        hasNextPage
        hasPreviousPage
        startCursor
        endCursor
      }
      edges {
        cursor
        node {
          id
          name
          email
          company
          lifecycleStage
          tags
        }
      }
    }
  }
`);

/** Which page: the first, the one after a cursor, or the one before it (Relay paging). */
type Page = { after?: string; before?: string };

function useDebounced(value: string, ms: number): string {
  const [settled, setSettled] = useState(value);
  useEffect(() => {
    const timer = setTimeout(() => setSettled(value), ms);
    return () => clearTimeout(timer);
  }, [value, ms]);
  return settled;
}

export default function Customers() {
  const [typed, setTyped] = useState("");
  const search = useDebounced(typed.trim(), 250);
  const [page, setPage] = useState<Page>({});
  useEffect(() => setPage({}), [search]);

  const variables = page.before
    ? { search: search || null, last: PAGE_SIZE, before: page.before }
    : { search: search || null, first: PAGE_SIZE, after: page.after ?? null };
  const [{ data, error, fetching }] = useQuery({ query: CustomersQuery, variables });
  const connection = data?.customers;

  return (
    <section aria-labelledby="customers-title">
      <h1 id="customers-title">Customers</h1>
      <label htmlFor="customer-search">Search customers</label>
      <input
        id="customer-search"
        type="search"
        placeholder="Name, e-mail or phone"
        value={typed}
        onChange={(event) => setTyped(event.target.value)}
      />
      {error && <ErrorNote error={error} />}
      {connection && (
        <>
          <p className="count" aria-live="polite">
            {connection.totalCount} customers{fetching ? " (updating…)" : ""}
          </p>
          <table>
            <thead>
              <tr>
                <th scope="col">Name</th>
                <th scope="col">E-mail</th>
                <th scope="col">Company</th>
                <th scope="col">Stage</th>
                <th scope="col">Tags</th>
              </tr>
            </thead>
            <tbody>
              {connection.edges.map(({ node }) => (
                <tr key={node.id}>
                  <td>
                    <a href={customerHref(node.id)}>{node.name}</a>
                  </td>
                  <td>{node.email}</td>
                  <td>{node.company}</td>
                  <td>{node.lifecycleStage}</td>
                  <td>{node.tags.join(", ")}</td>
                </tr>
              ))}
            </tbody>
          </table>
          <nav aria-label="Pages" className="pager">
            <button
              type="button"
              disabled={!connection.pageInfo.hasPreviousPage}
              onClick={() => setPage({ before: connection.pageInfo.startCursor ?? undefined })}
            >
              Previous page
            </button>
            <button
              type="button"
              disabled={!connection.pageInfo.hasNextPage}
              onClick={() => setPage({ after: connection.pageInfo.endCursor ?? undefined })}
            >
              Next page
            </button>
          </nav>
        </>
      )}
    </section>
  );
}
