/**
 * Approves the kubelets' serving-certificate requests (signer kubernetes.io/kubelet-serving), which no
 * controller in kubeadm's cluster approves: with serverTLSBootstrap the kubelets ask the cluster CA for
 * their serving certificates, so metrics-server can check them instead of skipping TLS checks.
 *
 * A request is approved only when it comes from `system:node:<node>` (group system:nodes) for a node of
 * cluster.yaml, its subject says the same, and every DNS name and IP address in it is that node's name or
 * one of its two addresses (NAT and host-only). Anything else stays pending, reported once, never denied:
 * the user can look at it (`kubectl get csr`) and decide.
 */
import type { ClusterSpec, NodeSpec } from '../config/model.js';
import type { KubeClient } from '../kube/client.js';
import type { Condition, KubeList, KubeObject } from '../kube/types.js';
import { readCertificateRequest } from '../pki/certificate-requests.js';

const CSR_PATH = '/apis/certificates.k8s.io/v1/certificatesigningrequests';
export const KUBELET_SERVING_SIGNER = 'kubernetes.io/kubelet-serving';
/** The usages a kubelet asks for (RSA keys add key encipherment). */
const SERVING_USAGES = new Set(['digital signature', 'key encipherment', 'server auth']);

export interface CertificateSigningRequest extends KubeObject {
  spec: {
    request: string;
    signerName: string;
    username?: string;
    groups?: string[];
    usages?: string[];
    [key: string]: unknown;
  };
  status?: { conditions?: Condition[]; certificate?: string; [key: string]: unknown };
}

/** A request left pending and why, e.g. "it asks for IP address 10.0.0.9, not one of k8s-worker1's addresses". */
export interface RefusedRequest {
  csr: string;
  /** The node it claims to be (from its requester), if any. */
  node: string | undefined;
  problem: string;
}

export interface CsrReview {
  /** Names of the requests approved now, with their node and when each was made. */
  approved: { csr: string; node: string; createdAt: string | undefined }[];
  /** Pending kubelet-serving requests that do not match cluster.yaml (each reported once per approver). */
  refused: RefusedRequest[];
}

function decided(csr: CertificateSigningRequest): boolean {
  return (csr.status?.conditions ?? []).some(
    (c) => (c.type === 'Approved' || c.type === 'Denied' || c.type === 'Failed') && c.status === 'True',
  );
}

/** Why `csr` may not be approved for a node of `spec`, or undefined when it may (with the node). */
export async function checkServingRequest(
  spec: ClusterSpec,
  csr: CertificateSigningRequest,
): Promise<{ node: NodeSpec } | { node: string | undefined; problem: string }> {
  const username = csr.spec.username ?? '';
  const claimed = /^system:node:(.+)$/.exec(username)?.[1];
  if (claimed === undefined)
    return {
      node: undefined,
      problem: `it was filed by "${username}", not by a kubelet (system:node:<node>)`,
    };
  const node = spec.nodes.find((n) => n.name === claimed);
  if (!node) return { node: claimed, problem: `node ${claimed} is not in cluster.yaml` };
  if (!(csr.spec.groups ?? []).includes('system:nodes'))
    return { node: claimed, problem: 'its requester is not in the group system:nodes' };
  const odd = (csr.spec.usages ?? []).filter((u) => !SERVING_USAGES.has(u));
  if (odd.length > 0 || !(csr.spec.usages ?? []).includes('server auth'))
    return {
      node: claimed,
      problem: `it asks for the usages ${(csr.spec.usages ?? []).join(', ') || '(none)'}, not a serving certificate's`,
    };
  let facts;
  try {
    facts = await readCertificateRequest(Buffer.from(csr.spec.request, 'base64').toString('utf8'));
  } catch (error) {
    return { node: claimed, problem: `its request cannot be read (${(error as Error).message})` };
  }
  if (facts.commonName !== username || !facts.organizations.includes('system:nodes'))
    return {
      node: claimed,
      problem: `its subject (CN=${facts.commonName ?? ''}, O=${facts.organizations.join('+')}) is not ${username} in system:nodes`,
    };
  const addresses = [node.nics.nat.address, node.nics.hostOnly.address];
  const foreign = [
    ...facts.dnsNames.filter((n) => n !== node.name).map((n) => `DNS name ${n}`),
    ...facts.ipAddresses.filter((a) => !addresses.includes(a)).map((a) => `IP address ${a}`),
    ...facts.otherNames,
  ];
  if (foreign.length > 0)
    return {
      node: claimed,
      problem: `it asks for ${foreign.join(', ')}, beyond ${node.name}'s name and addresses (${addresses.join(', ')})`,
    };
  if (facts.dnsNames.length + facts.ipAddresses.length === 0)
    return { node: claimed, problem: 'it names no DNS name or IP address' };
  return { node };
}

/** Reviews the pending kubelet-serving requests each time it is called; reports a refused one once. */
export class KubeletServingApprover {
  private readonly reported = new Set<string>();

  constructor(
    private readonly spec: ClusterSpec,
    private readonly kube: Pick<KubeClient, 'request'>,
  ) {}

  async review(): Promise<CsrReview> {
    const list = await this.kube.request<KubeList<CertificateSigningRequest>>('GET', CSR_PATH);
    const review: CsrReview = { approved: [], refused: [] };
    for (const csr of list.items) {
      if (csr.spec.signerName !== KUBELET_SERVING_SIGNER || decided(csr)) continue;
      const name = csr.metadata.name!;
      const verdict = await checkServingRequest(this.spec, csr);
      if ('problem' in verdict) {
        if (!this.reported.has(name))
          review.refused.push({ csr: name, node: verdict.node, problem: verdict.problem });
        this.reported.add(name);
        continue;
      }
      const approved: CertificateSigningRequest = {
        ...csr,
        status: {
          ...csr.status,
          conditions: [
            ...(csr.status?.conditions ?? []),
            {
              type: 'Approved',
              status: 'True',
              reason: 'KubestationApproved',
              message: `kubestation: the names and addresses of ${verdict.node.name} in cluster.yaml`,
            },
          ],
        },
      };
      await this.kube.request('PUT', `${CSR_PATH}/${encodeURIComponent(name)}/approval`, { body: approved });
      review.approved.push({ csr: name, node: verdict.node.name, createdAt: csr.metadata.creationTimestamp });
    }
    return review;
  }
}
