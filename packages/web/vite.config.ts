import { resolve } from 'node:path';
import { defineConfig } from 'vite';

// The client and the contract are compiled from their TypeScript sources: their built output is
// CommonJS for Node, which a browser bundle should not carry.
export default defineConfig({
  root: __dirname,
  base: '/',
  resolve: {
    alias: {
      '@imagegen/client': resolve(__dirname, '../client/src/index.ts'),
      '@imagegen/shared/contract': resolve(__dirname, '../shared/src/contract.ts'),
    },
  },
  build: { outDir: 'dist', emptyOutDir: true, target: 'es2022' },
});
