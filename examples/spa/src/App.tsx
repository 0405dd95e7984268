import { Suspense, lazy, useMemo, useState } from "react";
import { Provider, useQuery } from "urql";
import { makeClient } from "./client";
import { ErrorNote } from "./errors";
import { ViewerContext, holds } from "./permissions";
import { useRoute } from "./route";
import { SignIn } from "./screens/SignIn";
import { forgetKey, storedKey } from "./session";
import { ViewerQuery } from "./viewer";

// One chunk per screen: the sign-in page loads neither.
const Customers = lazy(() => import("./screens/Customers"));
const Customer360 = lazy(() => import("./screens/Customer360"));

export function App() {
  const [key, setKey] = useState(storedKey);
  const client = useMemo(() => (key ? makeClient(key) : null), [key]);
  const signOut = () => {
    forgetKey();
    setKey(null);
  };
  if (!client) return <SignIn onSignedIn={setKey} />;
  return (
    <Provider value={client}>
      <SignedIn onSignOut={signOut} />
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
        {viewer && !holds(viewer, "customers:read") && (
          <p role="alert" className="error">
            Forbidden: your key does not allow reading customers.
          </p>
        )}
        {viewer && holds(viewer, "customers:read") && (
          <Suspense fallback={<p>Loading…</p>}>
            {route.screen === "customer" ? <Customer360 id={route.id} /> : <Customers />}
          </Suspense>
        )}
      </main>
    </ViewerContext.Provider>
  );
}
