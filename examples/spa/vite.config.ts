import react from "@vitejs/plugin-react";
import { defineConfig } from "vite";

// Served by `crm-graph serve` at /app (same origin as /graphql, so CORS stays closed).
export default defineConfig({
  base: "/app/",
  plugins: [react()],
  build: { outDir: "dist", emptyOutDir: true },
  server: { proxy: { "/graphql": "http://127.0.0.1:8000" } },
});
