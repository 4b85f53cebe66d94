/** Collects check results and the problems that explain them (each problem listed once). */
import type { CheckResult, Problem } from './report.js';

export class Findings {
  readonly results: CheckResult[] = [];
  private readonly problemsById = new Map<string, Problem>();

  add(result: Omit<CheckResult, 'problem'>, problem?: Problem): void {
    if (problem && result.verdict !== 'pass') {
      if (!this.problemsById.has(problem.id)) this.problemsById.set(problem.id, problem);
      this.results.push({ ...result, problem: problem.id });
    } else {
      this.results.push(result);
    }
  }

  get problems(): Problem[] {
    return [...this.problemsById.values()];
  }

  failed(): boolean {
    return this.results.some((r) => r.verdict === 'fail');
  }
}
