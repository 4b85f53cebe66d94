/** verify: prove the cluster works through the Kubernetes API only. */
export { verifyCluster, type VerifyOptions } from './verify-cluster.js';
export {
  renderReport,
  type VerifyReport,
  type CheckResult,
  type Problem,
  type Verdict,
  type CheckGroup,
} from './report.js';
export {
  renderProbeScript,
  parseProbeOutput,
  type ProbePlan,
  type ProbeCheck,
  type ProbeLine,
} from './probe-script.js';
export { defaultVerifyImage, defaultVerifyNamespace } from './workload.js';
