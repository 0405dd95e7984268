import { type FormEvent, useState } from "react";
import { makeClient } from "../client";
import { storeKey } from "../session";
import { ViewerQuery } from "../viewer";

/** Paste an API key (`crm-graph keys create`); it is checked against the API before it is
 * kept, in sessionStorage. */
export function SignIn({ onSignedIn }: { onSignedIn: (key: string) => void }) {
  const [key, setKey] = useState("");
  const [problem, setProblem] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  async function submit(event: FormEvent) {
    event.preventDefault();
    const candidate = key.trim();
    if (!candidate) return;
    setBusy(true);
    const result = await makeClient(candidate)
      .query(ViewerQuery, {}, { requestPolicy: "network-only" })
      .toPromise();
    setBusy(false);
    if (result.data?.viewer) {
      storeKey(candidate);
      onSignedIn(candidate);
    } else {
      setProblem("The API refused this key.");
    }
  }

  return (
    <main className="sign-in">
      <h1>Sign in to crm-graph</h1>
      <form onSubmit={submit}>
        <label htmlFor="api-key">API key</label>
        <input
          id="api-key"
          type="password"
          autoComplete="off"
          value={key}
          onChange={(event) => setKey(event.target.value)}
        />
        <button type="submit" disabled={busy}>
          Sign in
        </button>
      </form>
      {problem && (
        <p role="alert" className="error">
          {problem}
        </p>
      )}
      <p className="hint">
        Create a key with <code>crm-graph keys create --role admin</code>; it is kept for this
        tab only.
      </p>
    </main>
  );
}
