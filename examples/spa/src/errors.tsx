import type { CombinedError } from "urql";

/** An API error as the caller should read it: a FORBIDDEN says so, other codes are named. */
export function ErrorNote({ error }: { error: CombinedError }) {
  const codes = error.graphQLErrors.map((e) => String(e.extensions?.code ?? "ERROR"));
  if (codes.includes("FORBIDDEN")) {
    return (
      <p role="alert" className="error">
        Forbidden: your key does not allow this.
      </p>
    );
  }
  if (error.networkError || error.response?.status === 401) {
    return (
      <p role="alert" className="error">
        The API could not be reached or refused the key ({error.message}).
      </p>
    );
  }
  return (
    <p role="alert" className="error">
      {codes.join(", ")}: {error.graphQLErrors.map((e) => e.message).join("; ")}
    </p>
  );
}
