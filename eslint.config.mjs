// ESLint flat config: type-aware rules on TypeScript; workflow code may not import Node built-ins or
// non-deterministic libraries (it runs inside Temporal's deterministic sandbox).
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import { builtinModules } from 'node:module';

const nodeBuiltins = builtinModules.filter((m) => !m.startsWith('_')).flatMap((m) => [m, `node:${m}`]);

export default tseslint.config(
  {
    ignores: [
      'node_modules/**',
      '.tools/**',
      '.lumen/**',
      'dist/**',
      'test/histories/**',
      '**/*.mjs',
      '**/*.cjs',
      'bin/**',
    ],
  },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/no-explicit-any': 'error',
      // async methods implementing async interfaces over synchronous drivers (better-sqlite3) are fine
      '@typescript-eslint/require-await': 'off',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/restrict-template-expressions': ['error', { allowNumber: true, allowBoolean: true }],
    },
  },
  {
    files: ['workflows/**/*.ts'],
    rules: {
      '@typescript-eslint/no-restricted-imports': [
        'error',
        {
          paths: [
            ...nodeBuiltins.map((name) => ({
              name,
              message: 'Workflow code runs in a deterministic sandbox: no Node built-ins.',
            })),
            { name: '@tensorflow/tfjs-node', message: 'tfjs belongs in activities.' },
            { name: '@duckdb/node-api', message: 'I/O belongs in activities.' },
            { name: 'better-sqlite3', message: 'I/O belongs in activities.' },
          ],
          patterns: [
            {
              group: ['../activities', '../activities/*', '../lib/*', '../lib/**'],
              allowTypeImports: true,
              message: 'Workflows may import only types from activities/ and lib/ (their code does I/O).',
            },
          ],
        },
      ],
    },
  },
  {
    files: ['test/**/*.ts', 'bench/**/*.ts'],
    rules: {
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-non-null-assertion': 'off',
    },
  },
);
