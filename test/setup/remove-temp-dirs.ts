// After each test file: remove the folders its tests made with test/support/temp-dir.ts.
import { afterAll } from 'vitest';
import { removeTempDirs } from '../support/temp-dir.js';

afterAll(removeTempDirs);
