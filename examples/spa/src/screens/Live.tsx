import { useState } from "react";
import { useQuery } from "urql";
import { ErrorNote } from "../errors";
import { when } from "../format";
import { graphql } from "../gql";
import { type LiveEvent, LiveBadge, useEvents } from "../live";
import { customerHref } from "../route";

const LiveStartQuery = graphql(`
  query LiveStart {
    eventStream {
      latestCursor
    }
  }
`);

const EventsSubscription = graphql(`
  subscription LiveEvents($after: String) {
    events(after: $after) {
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

/** How many events the feed keeps on screen. */
const KEPT = 200;

/** Every event of the log as it happens, newest first, from the moment the screen opened. */
export default function Live() {
  const [{ data, error }] = useQuery({ query: LiveStartQuery, requestPolicy: "network-only" });
  if (error) return <ErrorNote error={error} />;
  if (!data) return <p>Loading…</p>;
  return <Feed from={data.eventStream.latestCursor} />;
}

function Feed({ from }: { from: string }) {
  const [events, setEvents] = useState<LiveEvent[]>([]);
  const { status, resumes } = useEvents(
    EventsSubscription,
    {},
    (event) =>
      setEvents((now) =>
        now.some((e) => e.id === event.id) ? now : [event, ...now].slice(0, KEPT),
      ),
    { after: from },
  );
  return (
    <section aria-labelledby="live-title">
      <div className="title-row">
        <h1 id="live-title">Live events</h1>
        <LiveBadge status={status} />
      </div>
      <p className="hint">
        Events from the API's log by subscription, newest first. After a dropped connection the
        feed subscribes again after the last event it received, so none is missed.
        {resumes > 0 && (
          <span data-field="resumes">
            {" "}
            Resumed {resumes === 1 ? "once" : `${resumes} times`}.
          </span>
        )}
      </p>
      <h2 id="feed-title">Events ({events.length})</h2>
      {events.length === 0 ? (
        <p>Nothing has happened since this screen opened.</p>
      ) : (
        <table aria-labelledby="feed-title" className="feed">
          <thead>
            <tr>
              <th scope="col">Type</th>
              <th scope="col">Entity</th>
              <th scope="col">By</th>
              <th scope="col">When</th>
            </tr>
          </thead>
          <tbody>
            {events.map((event) => (
              <tr key={event.id} data-event={event.id}>
                <td>{event.type}</td>
                <td>
                  {event.entityType === "Customer" && event.entityId ? (
                    <a href={customerHref(event.entityId)}>
                      {event.entityType} {event.entityId}
                    </a>
                  ) : event.entityType ? (
                    `${event.entityType} ${event.entityId ?? ""}`
                  ) : (
                    "—"
                  )}
                </td>
                <td>{event.actor ?? "—"}</td>
                <td>
                  <time dateTime={event.occurredAt}>{when(event.occurredAt)}</time>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}
