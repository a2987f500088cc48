// The build goes into the Python package, where `pykatib server` serves it (/ui/static/), and
// is committed: installing pykatib needs no Node.js.
import { defineConfig } from "vite";

export default defineConfig({
  base: "/ui/static/",
  build: {
    outDir: "../src/pykatib/ui/static",
    emptyOutDir: true,
    chunkSizeWarningLimit: 1500,
  },
  // `npm run dev` next to `pykatib server` on its default port
  server: { proxy: { "/api": "http://127.0.0.1:8080", "/apis": "http://127.0.0.1:8080", "/ui/api": "http://127.0.0.1:8080" } },
});
