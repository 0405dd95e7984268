import type { LifecycleStage } from "./gql/graphql";

/** The API's lifecycle stages in funnel order (the type checks each against the schema). */
export const LIFECYCLE_STAGES: LifecycleStage[] = [
  "SUBSCRIBER",
  "LEAD",
  "PROSPECT",
  "OPPORTUNITY",
  "CUSTOMER",
  "EVANGELIST",
  "CHURNED",
  "OTHER",
];

/** `"a, b,,c "` -> `["a", "b", "c"]`: tags as typed into one text box. */
export function parseTags(text: string): string[] {
  return text
    .split(",")
    .map((tag) => tag.trim())
    .filter(Boolean);
}
