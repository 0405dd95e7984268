import { Suspense, lazy, useEffect, useMemo, useState } from "react";
import { Provider, useQuery } from "urql";
import { makeClient } from "./client";
import { ErrorNote } from "./errors";
import { Socket, SocketContext } from "./live";
import { type Viewer, ViewerContext, holds } from "./permissions";
import { type Route, useRoute } from "./route";
import { SignIn } from "./screens/SignIn";
import { forgetKey, storedKey } from "./session";
import { ViewerQuery } from "./viewer";

// One chunk per screen: the sign-in page loads neither.
const Customers = lazy(() => import("./screens/Customers"));
const Customer360 = lazy(() => import("./screens/Customer360"));
const NewCustomer = lazy(() => import("./screens/NewCustomer"));
const EditCustomer = lazy(() => import("./screens/EditCustomer"));
const AnalyticsDashboard = lazy(() => import("./screens/AnalyticsDashboard"));
const Tickets = lazy(() => import("./screens/Tickets"));
const Pipeline = lazy(() => import("./screens/Pipeline"));
const Campaigns = lazy(() => import("./screens/Campaigns"));
const Live = lazy(() => import("./screens/Live"));

export function App() {
  const [key, setKey] = useState(storedKey);
  const client = useMemo(() => (key ? makeClient(key) : null), [key]);
  // One WebSocket per key, opened when a screen first subscribes, closed on sign-out.
  const socket = useMemo(() => (key ? new Socket(key) : null), [key]);
  useEffect(() => () => socket?.dispose(), [socket]);
  const signOut = () => {
    forgetKey();
    setKey(null);
  };
  if (!client) return <SignIn onSignedIn={setKey} />;
  return (
    <Provider value={client}>
      <SocketContext.Provider value={socket}>
        <SignedIn onSignOut={signOut} />
      </SocketContext.Provider>
    </Provider>
  );
}

function SignedIn({ onSignOut }: { onSignOut: () => void }) {
  const [{ data, error }] = useQuery({ query: ViewerQuery, requestPolicy: "network-only" });
  const route = useRoute();
  const viewer = data?.viewer ?? null;
  return (
    <ViewerContext.Provider value={viewer}>
      <header className="top">
        <a href="#/customers" className="brand">
          crm-graph
        </a>
        {viewer && (
          <nav aria-label="Screens" className="screens">
            {holds(viewer, "customers:read") && <a href="#/customers">Customers</a>}
            {holds(viewer, "analytics:read") && <a href="#/analytics">Analytics</a>}
            {holds(viewer, "deals:read") && <a href="#/pipeline">Pipeline</a>}
            {holds(viewer, "tickets:read") && <a href="#/tickets">Tickets</a>}
            {holds(viewer, "campaigns:read") && <a href="#/campaigns">Campaigns</a>}
            {holds(viewer, "events:read") && <a href="#/live">Live</a>}
            {/* Same tab: GraphiQL reads the key from this tab's session storage. */}
            <a href="/graphql">GraphiQL</a>
          </nav>
        )}
        {viewer && (
          <span className="who">
            {viewer.name} ({viewer.role})
          </span>
        )}
        <button type="button" onClick={onSignOut}>
          Sign out
        </button>
      </header>
      <main>
        {error && <ErrorNote error={error} />}
        {viewer && (
          <Suspense fallback={<p>Loading…</p>}>
            <Screen route={route} viewer={viewer} />
          </Suspense>
        )}
      </main>
    </ViewerContext.Provider>
  );
}

/** The permission each screen needs: a plugin's screens need that plugin's permissions, which a
 * server grants only while the plugin runs. */
const NEEDS: Record<Route["screen"], string> = {
  customers: "customers:read",
  customer: "customers:read",
  "new-customer": "customers:write",
  "edit-customer": "customers:write",
  analytics: "analytics:read",
  pipeline: "deals:read",
  tickets: "tickets:read",
  campaigns: "campaigns:read",
  live: "events:read",
};

/** The screen the route names, or why the key cannot use it (decided by its permissions). */
function Screen({ route, viewer }: { route: Route; viewer: Viewer }) {
  const needs = NEEDS[route.screen];
  if (!holds(viewer, needs)) {
    return (
      <p role="alert" className="error">
        Forbidden: your key does not allow this screen (it needs {needs}).
      </p>
    );
  }
  switch (route.screen) {
    case "analytics":
      return <AnalyticsDashboard />;
    case "tickets":
      return <Tickets />;
    case "pipeline":
      return <Pipeline />;
    case "campaigns":
      return <Campaigns />;
    case "live":
      return <Live />;
    case "new-customer":
      return <NewCustomer />;
    case "edit-customer":
      return <EditCustomer id={route.id} />;
    case "customer":
      return <Customer360 id={route.id} />;
    case "customers":
      return <Customers />;
  }
}
