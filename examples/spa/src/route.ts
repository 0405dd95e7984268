import { useEffect, useState } from "react";

/** Screens are addressed by the URL's fragment (`#/customers/<id>`): the built files need no
 * server-side routing, and the fragment never reaches the server. */
export type Route = { screen: "customers" } | { screen: "customer"; id: string };

export function parseRoute(hash: string): Route {
  const match = /^#\/customers\/(.+)$/.exec(hash);
  return match ? { screen: "customer", id: decodeURIComponent(match[1]) } : { screen: "customers" };
}

export function customerHref(id: string): string {
  return `#/customers/${encodeURIComponent(id)}`;
}

export function useRoute(): Route {
  const [route, setRoute] = useState(() => parseRoute(window.location.hash));
  useEffect(() => {
    const follow = () => setRoute(parseRoute(window.location.hash));
    window.addEventListener("hashchange", follow);
    return () => window.removeEventListener("hashchange", follow);
  }, []);
  return route;
}
