// The page is built into dist/ and served by the gateway at `/`; everything it
// needs is bundled (no CDN, no fetch at run time but the gateway's own endpoints).
import { defineConfig } from "vite";
import preact from "@preact/preset-vite";

export default defineConfig({
  plugins: [preact()],
  base: "/",
  build: { outDir: "dist", emptyOutDir: true, sourcemap: false, target: "es2022" },
  // `npm run dev` in apps/web: the gateway of `npm start` behind Vite's dev server.
  server: { proxy: { "/ws": { target: "ws://127.0.0.1:7480", ws: true }, "/v1": "http://127.0.0.1:7480" } },
});
