// ESLint flat config: recommended + type-aware rules for src/ and test/; plain JS rules for scripts.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
    { ignores: ['dist/', 'out/', 'node_modules/', 'e2e/node_modules/', 'e2e/artifacts/', '.vscode-test/'] },
    js.configs.recommended,
    {
        files: ['**/*.ts'],
        extends: [...tseslint.configs.recommendedTypeChecked],
        languageOptions: { parserOptions: { project: './tsconfig.json', tsconfigRootDir: import.meta.dirname } },
        rules: {
            '@typescript-eslint/no-floating-promises': 'error',
            '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_' }],
            eqeqeq: ['error', 'always', { null: 'ignore' }],
            curly: ['error', 'multi-line'],
        },
    },
    {
        // node:test's describe/it return promises the runner tracks itself.
        files: ['test/**/*.ts'],
        rules: { '@typescript-eslint/no-floating-promises': 'off' },
    },
    {
        files: ['**/*.mjs', '**/*.js'],
        languageOptions: {
            globals: { process: 'readonly', console: 'readonly', setTimeout: 'readonly', clearTimeout: 'readonly', Buffer: 'readonly', URL: 'readonly', fetch: 'readonly' },
        },
    },
    {
        // Functions the e2e suite sends into the browser page.
        files: ['e2e/**/*.mjs'],
        languageOptions: { globals: { window: 'readonly', document: 'readonly', MutationObserver: 'readonly' } },
    },
);
