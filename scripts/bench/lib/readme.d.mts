// Types for readme.mjs (the README staleness test imports it).
export declare const BEGIN: string;
export declare const END: string;
export declare function readBenchResults(dir?: string): unknown[];
export declare function renderBenchSection(results?: unknown[]): string;
export declare function updateReadme(readmePath?: string): boolean;
