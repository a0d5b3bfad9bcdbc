import { defaultClientConditions, defineConfig } from 'vite';

// The client and the contract are bundled from their TypeScript sources (the `@imagegen/source`
// condition of their package.json `exports`): their built output is CommonJS for Node, which a
// browser bundle should not carry.
export default defineConfig({
  root: __dirname,
  base: '/',
  resolve: { conditions: ['@imagegen/source', ...defaultClientConditions] },
  build: { outDir: 'dist', emptyOutDir: true, target: 'es2022' },
});
