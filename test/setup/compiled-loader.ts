// Loaded with `node --import` into every test process that may start worker threads (see
// vitest.config.ts); the threads inherit the flag and so the hook.
import { register } from 'node:module';

register('./compiled-hooks.js', import.meta.url);
