/** The figures the dashboard charts from `analyticsModels` (a JSON object per model kind, as
 * the analytics plugin stores its metrics): read defensively, since JSON has no schema. */

export interface ModelQuality {
  churnAuc: { model: string; auc: number }[];
  ndcg: { model: string; ndcg: number; chosen: boolean }[];
}

type Json = Record<string, unknown>;

const object = (value: unknown): Json =>
  value !== null && typeof value === "object" && !Array.isArray(value) ? (value as Json) : {};

export function modelQuality(models: unknown): ModelQuality {
  const kinds = object(models);
  const churn = object(object(kinds.churn).cvRocAuc);
  const recommendations = object(kinds.recommendations);
  const candidates = Array.isArray(recommendations.candidates) ? recommendations.candidates : [];
  const chosen = recommendations.chosen;
  return {
    churnAuc: Object.entries(churn)
      .filter(([, auc]) => typeof auc === "number")
      .map(([model, auc]) => ({ model, auc: auc as number })),
    ndcg: candidates
      .map(object)
      .filter((c) => typeof c.model === "string" && typeof c["ndcg@10"] === "number")
      .map((c) => ({
        model: c.model as string,
        ndcg: c["ndcg@10"] as number,
        chosen: c.model === chosen,
      })),
  };
}
