// The UI is built into one directory that tools/embed.c turns into C data
// linked into keel (src/ui/ui.c serves it). Relative URLs, so keel can sit
// behind a proxy under any path; hashed asset names, so they cache forever.
import { defineConfig } from "vite";

export default defineConfig({
  base: "./",
  build: {
    outDir: process.env.KEEL_UI_OUT ?? "../build/ui/dist",
    emptyOutDir: true,
    assetsDir: "static-files",
    sourcemap: false,
    target: "es2020",
    chunkSizeWarningLimit: 400,
  },
});
