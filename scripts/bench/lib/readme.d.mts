// Types for readme.mjs (the README staleness test and the e2e run recorder import it).
export declare const BEGIN: string;
export declare const END: string;
export declare const E2E_BEGIN: string;
export declare const E2E_END: string;
export declare function readBenchResults(dir?: string): unknown[];
export declare function renderBenchSection(results?: unknown[]): string;
export declare function readE2eRecord(dir?: string): unknown;
export declare function renderE2eSection(record?: unknown): string;
export declare function updateReadme(readmePath?: string): boolean;
