import { createContext, useContext } from "react";

/** The caller as the API describes it (`viewer`): what the screens may show is decided by
 * `permissions` (`customers:read@all`...), never by the role's name. */
export interface Viewer {
  name: string;
  role: string;
  permissions: string[];
}

export function holds(viewer: Viewer, permission: string): boolean {
  return viewer.permissions.some((granted) => granted.split("@")[0] === permission);
}

export const ViewerContext = createContext<Viewer | null>(null);

export function useCan(permission: string): boolean {
  const viewer = useContext(ViewerContext);
  return viewer !== null && holds(viewer, permission);
}
