import { useEffect, useState } from "react";

/** Screens are addressed by the URL's fragment (`#/customers/<id>`): the built files need no
 * server-side routing, and the fragment never reaches the server. */
export type Route =
  | { screen: "customers" }
  | { screen: "new-customer" }
  | { screen: "customer"; id: string }
  | { screen: "edit-customer"; id: string }
  | { screen: "analytics" }
  | { screen: "tickets" }
  | { screen: "pipeline" }
  | { screen: "campaigns" }
  | { screen: "live" };

export function parseRoute(hash: string): Route {
  if (hash === "#/analytics") return { screen: "analytics" };
  if (hash === "#/tickets") return { screen: "tickets" };
  if (hash === "#/pipeline") return { screen: "pipeline" };
  if (hash === "#/campaigns") return { screen: "campaigns" };
  if (hash === "#/live") return { screen: "live" };
  if (hash === "#/customers/new") return { screen: "new-customer" };
  const match = /^#\/customers\/([^/]+)(\/edit)?$/.exec(hash);
  if (!match) return { screen: "customers" };
  const id = decodeURIComponent(match[1]);
  return match[2] ? { screen: "edit-customer", id } : { screen: "customer", id };
}

export function customerHref(id: string): string {
  return `#/customers/${encodeURIComponent(id)}`;
}

export function editCustomerHref(id: string): string {
  return `${customerHref(id)}/edit`;
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
