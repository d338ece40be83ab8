import { defineConfig } from "vite";

// No React plugin: esbuild compiles TSX with the automatic JSX runtime.
export default defineConfig({
  base: "./",
  esbuild: { jsx: "automatic" },
  clearScreen: false,
  server: { port: 1420, strictPort: true },
  build: { outDir: "dist", target: "es2021", sourcemap: false },
});
