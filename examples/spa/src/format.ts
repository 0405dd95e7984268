/** How the screens write the API's values. */

export const when = (iso: string) => new Date(iso).toLocaleString();

export const money = (m: { amount: string; currency: string }) => `${m.amount} ${m.currency}`;

/** 0.4567 -> "45.7%". */
export const percent = (share: number) => `${(share * 100).toFixed(1)}%`;

/** A day as the API's Date takes it (UTC). */
export const isoDay = (date: Date) => date.toISOString().slice(0, 10);
