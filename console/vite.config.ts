import { defineConfig } from "vite";
import { svelte } from "@sveltejs/vite-plugin-svelte";
import { fileURLToPath } from "node:url";

// The sync server embeds console/dist into its binary (apps/sync-server/build.rs) and serves it
// at / with a strict CSP: no inline scripts or styles, so Vite's module preload polyfill (an
// inline script in some setups) is off and CSS goes to files.
export default defineConfig({
  plugins: [svelte()],
  clearScreen: false,
  resolve: {
    // Shared with the desktop UI rather than copied: money formatting (ui/src/lib/money.ts).
    alias: { "@ui": fileURLToPath(new URL("../ui/src/lib", import.meta.url)) },
  },
  server: {
    port: 5174,
    strictPort: true,
    // `npm run dev` against a server on 127.0.0.1:8080.
    proxy: { "/v1": "http://127.0.0.1:8080" },
  },
  build: {
    outDir: "dist",
    emptyOutDir: true,
    target: "es2022",
    sourcemap: false,
    modulePreload: { polyfill: false },
    assetsInlineLimit: 0,
  },
});
