import { Client, cacheExchange, fetchExchange } from "urql";

/** A GraphQL client for the same-origin API, sending `key` as a bearer credential. */
export function makeClient(key: string): Client {
  return new Client({
    url: "/graphql",
    exchanges: [cacheExchange, fetchExchange],
    fetchOptions: () => ({ headers: { Authorization: `Bearer ${key}` } }),
    requestPolicy: "cache-and-network",
  });
}
