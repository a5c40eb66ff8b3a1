import js from '@eslint/js';
import tseslint from 'typescript-eslint';

const noAgents = { group: ['**/agents/**'], message: 'lib/ never imports agents/.' };
const noTestSupport = {
  group: ['**/e2e/**'],
  message: 'product code never imports test support (e2e/).',
};

export default tseslint.config(
  { ignores: ['node_modules/', '.cluster*/', 'crds/generated/', 'e2e/cluster/tools/', 'dist/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_' },
      ],
    },
  },
  // The layering: lib/ is shared by every component and never reaches into one;
  // product code never depends on test support (e2e/). Tests may use test support.
  {
    files: ['agents/**/*.ts', 'operator/**/*.ts', 'crds/**/*.ts'],
    ignores: ['**/*.test.ts'],
    rules: { 'no-restricted-imports': ['error', { patterns: [noTestSupport] }] },
  },
  {
    files: ['lib/**/*.ts'],
    ignores: ['**/*.test.ts'],
    rules: { 'no-restricted-imports': ['error', { patterns: [noAgents, noTestSupport] }] },
  },
  {
    files: ['lib/**/*.test.ts'],
    rules: { 'no-restricted-imports': ['error', { patterns: [noAgents] }] },
  },
  {
    // Tests poke into rendered manifests; `any` there is a reading aid, not an API.
    files: ['**/*.test.ts'],
    rules: { '@typescript-eslint/no-explicit-any': 'off' },
  },
);
