import { useState } from "react";
import { useClient, useQuery } from "urql";
import { useDebounced } from "../debounce";
import { ErrorNote } from "../errors";
import { graphql } from "../gql";
import type { CustomerSortField, LifecycleStage, SortDirection } from "../gql/graphql";
import { LIFECYCLE_STAGES, parseTags } from "../lifecycle";
import { LiveBadge, useRecordsRefresh } from "../live";
import { useCan } from "../permissions";
import { customerHref } from "../route";

export const PAGE_SIZE = 20;

const CustomersQuery = graphql(`
  query CustomersPage(
    $search: String
    $stages: [LifecycleStage!]
    $tags: [String!]
    $orderBy: CustomerOrderBy
    $first: Int
    $after: String
    $last: Int
    $before: String
  ) {
    customers(
      filter: { search: $search, lifecycleStages: $stages, tags: $tags }
      orderBy: $orderBy
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

/** What changes a listed customer, or which customers are listed. */
const CUSTOMER_EVENTS = [
  "customer.created",
  "customer.updated",
  "customer.deleted",
  "customer.restored",
  "customer.merged",
];

/** The orders a caller can pick, as the API's `orderBy` (field and direction). */
const SORTS: Record<string, { label: string; field: CustomerSortField; direction: SortDirection }> =
  {
    newest: { label: "Newest first", field: "CREATED_AT", direction: "DESC" },
    oldest: { label: "Oldest first", field: "CREATED_AT", direction: "ASC" },
    "name-asc": { label: "Name, A to Z", field: "NAME", direction: "ASC" },
    "name-desc": { label: "Name, Z to A", field: "NAME", direction: "DESC" },
    updated: { label: "Recently updated", field: "UPDATED_AT", direction: "DESC" },
  };

/** Which page: the first, the one after a cursor, or the one before it (Relay paging). */
type Page = { after?: string; before?: string };

export default function Customers() {
  const canCreate = useCan("customers:write");
  const [typed, setTyped] = useState("");
  const [typedTags, setTypedTags] = useState("");
  const [stages, setStages] = useState<LifecycleStage[]>([]);
  const [sort, setSort] = useState("newest");
  const search = useDebounced(typed.trim(), 250);
  const tags = useDebounced(typedTags, 250);
  const tagList = parseTags(tags);
  const listed = {
    search: search || null,
    stages: stages.length ? stages : null,
    tags: tagList.length ? tagList : null,
    orderBy: { field: SORTS[sort].field, direction: SORTS[sort].direction },
  };
  // A cursor belongs to the list it came from: any change of what is listed starts again from
  // its first page (checked while rendering, so no query goes out with a foreign cursor).
  const listing = JSON.stringify(listed);
  const [paged, setPaged] = useState<{ listing: string; page: Page }>({ listing, page: {} });
  const page = paged.listing === listing ? paged.page : {};
  const setPage = (next: Page) => setPaged({ listing, page: next });
  const variables = page.before
    ? { ...listed, last: PAGE_SIZE, before: page.before }
    : { ...listed, first: PAGE_SIZE, after: page.after ?? null };
  const [{ data, error, fetching }] = useQuery({ query: CustomersQuery, variables });
  // A customer created, changed or removed by anyone (events:read): the page is read again.
  const client = useClient();
  const live = useRecordsRefresh(CUSTOMER_EVENTS, () =>
    client.query(CustomersQuery, variables, { requestPolicy: "network-only" }).toPromise(),
  );
  const connection = data?.customers;
  const toggleStage = (stage: LifecycleStage, on: boolean) =>
    setStages((now) =>
      on
        ? LIFECYCLE_STAGES.filter((s) => s === stage || now.includes(s))
        : now.filter((s) => s !== stage),
    );

  return (
    <section aria-labelledby="customers-title">
      <div className="title-row">
        <h1 id="customers-title">Customers</h1>
        <LiveBadge status={live.status} />
        {canCreate && (
          <a className="button" href="#/customers/new">
            New customer
          </a>
        )}
      </div>
      <div className="filters">
        <p>
          <label htmlFor="customer-search">Search customers</label>
          <input
            id="customer-search"
            type="search"
            placeholder="Name, e-mail or phone"
            value={typed}
            onChange={(event) => setTyped(event.target.value)}
          />
        </p>
        <p>
          <label htmlFor="customer-tags">Tags</label>
          <input
            id="customer-tags"
            placeholder="vip, newsletter (all of them)"
            value={typedTags}
            onChange={(event) => setTypedTags(event.target.value)}
          />
        </p>
        <p>
          <label htmlFor="customer-sort">Sort by</label>
          <select id="customer-sort" value={sort} onChange={(event) => setSort(event.target.value)}>
            {Object.entries(SORTS).map(([value, { label }]) => (
              <option key={value} value={value}>
                {label}
              </option>
            ))}
          </select>
        </p>
        <fieldset>
          <legend>Lifecycle stage</legend>
          {LIFECYCLE_STAGES.map((stage) => (
            <label key={stage} className="choice">
              <input
                type="checkbox"
                checked={stages.includes(stage)}
                onChange={(event) => toggleStage(stage, event.target.checked)}
              />
              {stage}
            </label>
          ))}
        </fieldset>
      </div>
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
