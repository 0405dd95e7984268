// The signed-in API key lives in sessionStorage only: gone when the tab closes, never put in a
// URL (where it would reach history, logs and Referer headers).
const KEY = "crm-graph.apiKey";

export function storedKey(): string | null {
  return sessionStorage.getItem(KEY);
}

export function storeKey(key: string): void {
  sessionStorage.setItem(KEY, key);
}

export function forgetKey(): void {
  sessionStorage.removeItem(KEY);
}
