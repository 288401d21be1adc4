// Lint: eslint's and typescript-eslint's recommended rules; formatting is prettier's job.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/', 'node_modules/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { process: 'readonly', console: 'readonly' } },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
  {
    // The inbox page's script runs in the browser.
    files: ['src/web/static/**/*.js'],
    languageOptions: {
      sourceType: 'module',
      globals: Object.fromEntries(
        [
          'document',
          'fetch',
          'EventSource',
          'TextEncoder',
          'URLSearchParams',
          'setTimeout',
          'clearTimeout',
          'setInterval',
        ].map((name) => [name, 'readonly']),
      ),
    },
  },
);
