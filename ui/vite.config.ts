// The build goes into the Python package, where `pykatib server` serves it (/ui/static/), and
// is committed: installing pykatib needs no Node.js.
import { defineConfig, type Plugin } from "vite";

const BASE = "/ui/static/";

/** `<link rel="modulepreload">` in index.html for the chunks of the pages most visits open
 * (`sources`, and the chunks they import): the browser fetches and compiles them beside the
 * entry script instead of after it has run. ECharts (640 kB) and the YAML editor, needed by
 * some pages only, are left to the imports that main.ts starts first thing on those pages:
 * preloaded, they would cost every other page their compiling. */
function preloadPages(sources: string[]): Plugin {
  return {
    name: "pykatib-preload-pages",
    apply: "build",
    transformIndexHtml: {
      order: "post",
      handler(_html, { bundle }) {
        if (!bundle) return [];
        const files = new Set<string>();
        const add = (file: string) => {
          const chunk = bundle[file];
          if (files.has(file) || chunk?.type !== "chunk") return;
          files.add(file);
          chunk.imports.forEach(add);
        };
        for (const chunk of Object.values(bundle)) {
          if (chunk.type === "chunk" && !chunk.isEntry && sources.some((s) => chunk.facadeModuleId?.endsWith(s))) add(chunk.fileName);
        }
        const entries = new Set(Object.values(bundle).flatMap((c) => (c.type === "chunk" && c.isEntry ? [c.fileName] : [])));
        return [...files]
          .filter((file) => !entries.has(file))
          .sort()
          .map((file) => ({ tag: "link", attrs: { rel: "modulepreload", crossorigin: "", href: BASE + file }, injectTo: "head" as const }));
      },
    },
  };
}

export default defineConfig({
  base: BASE,
  plugins: [preloadPages(["src/pages/experiments.ts", "src/pages/experiment.ts"])],
  build: {
    outDir: "../src/pykatib/ui/static",
    emptyOutDir: true,
    chunkSizeWarningLimit: 1500,
  },
  // `npm run dev` next to `pykatib server` on its default port
  server: { proxy: { "/api": "http://127.0.0.1:8080", "/apis": "http://127.0.0.1:8080", "/ui/api": "http://127.0.0.1:8080" } },
});
