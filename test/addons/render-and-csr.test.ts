/**
 * render.ts (pure: the same spec and manifests give the same objects, the inputs untouched) and the
 * kubelet-serving request check: which requests kubestation approves, and what it says about the others.
 * The requests are made as a kubelet makes them and read back by openssl, the tool a user would check
 * them with.
 */
import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { checkServingRequest, type CertificateSigningRequest } from '../../src/addons/csr-approver.js';
import { renderAddon } from '../../src/addons/render.js';
import { createKubeletServingRequest } from '../../src/pki/certificate-requests.js';
import { specWithAddons, TEST_RELEASES, testManifests } from './fixtures.js';

const spec = specWithAddons((a) => {
  a.loadBalancer.pool = { start: '172.100.100.80', end: '172.100.100.89' };
  a.gateway.address = '172.100.100.81';
});

describe('renderAddon', () => {
  it('labels every object, puts the pool and Gateway address from cluster.yaml, and changes no input', async () => {
    for (const release of TEST_RELEASES) {
      const vendored = await testManifests(release);
      const copy = structuredClone(vendored);
      const objects = renderAddon(spec, release.name, vendored);
      expect(vendored).toEqual(copy);
      expect(renderAddon(spec, release.name, vendored)).toEqual(objects);
      for (const o of objects)
        expect(o.metadata.labels).toMatchObject({
          'app.kubernetes.io/managed-by': 'kubestation',
          'kubestation.io/addon': release.name,
        });
    }
    const lb = renderAddon(spec, 'loadBalancer', []);
    expect(lb.map((o) => [o.kind, o.metadata.namespace, o.spec])).toEqual([
      ['IPAddressPool', 'metallb-system', { addresses: ['172.100.100.80-172.100.100.89'] }],
      ['L2Advertisement', 'metallb-system', { ipAddressPools: ['kubestation'], interfaces: ['ens37'] }],
    ]);
    const gateway = renderAddon(spec, 'gateway', []).find((o) => o.kind === 'Gateway')!;
    expect(JSON.stringify(gateway.spec)).toContain('"metallb.io/loadBalancerIPs":"172.100.100.81"');
    // The controller serves only the class it ships (NGINX Gateway Fabric: --gatewayclass=nginx): the Gateway uses it.
    const shipped = renderAddon(spec, 'gateway', await testManifests(TEST_RELEASES[3]!));
    expect(shipped.filter((o) => o.kind === 'GatewayClass').map((o) => o.metadata.name)).toEqual(['nginx']);
    expect(
      (shipped.find((o) => o.kind === 'Gateway')!.spec as { gatewayClassName: string }).gatewayClassName,
    ).toBe('nginx');
  });
});

function csrFor(
  username: string,
  pem: string,
  usages = ['digital signature', 'server auth'],
): CertificateSigningRequest {
  return {
    apiVersion: 'certificates.k8s.io/v1',
    kind: 'CertificateSigningRequest',
    metadata: { name: 'csr-test' },
    spec: {
      request: Buffer.from(pem).toString('base64'),
      signerName: 'kubernetes.io/kubelet-serving',
      username,
      groups: ['system:nodes', 'system:authenticated'],
      usages,
    },
  };
}

describe('checkServingRequest', () => {
  const worker1 = spec.nodes.find((n) => n.name === 'k8s-worker1')!;

  it('makes requests openssl reads as a kubelet files them', async () => {
    const pem = await createKubeletServingRequest('k8s-worker1', {
      dnsNames: ['k8s-worker1'],
      ipAddresses: [worker1.nics.hostOnly.address],
    });
    const text = execFileSync('openssl', ['req', '-noout', '-text', '-verify'], {
      input: pem,
      encoding: 'utf8',
      stdio: 'pipe',
    });
    expect(text).toMatch(/Subject: CN ?= ?system:node:k8s-worker1, O ?= ?system:nodes/);
    expect(text).toContain(`DNS:k8s-worker1, IP Address:${worker1.nics.hostOnly.address}`);
  });

  it("approves the node's name and either of its two addresses", async () => {
    const pem = await createKubeletServingRequest('k8s-worker1', {
      dnsNames: ['k8s-worker1'],
      ipAddresses: [worker1.nics.hostOnly.address, worker1.nics.nat.address],
    });
    const verdict = await checkServingRequest(spec, csrFor('system:node:k8s-worker1', pem));
    expect(verdict).toEqual({ node: worker1 });
  });

  it.each([
    {
      what: "another node's address",
      username: 'system:node:k8s-worker1',
      names: { dnsNames: ['k8s-worker1'], ipAddresses: ['172.100.100.4'] },
      problem: "it asks for IP address 172.100.100.4, beyond k8s-worker1's name and addresses",
    },
    {
      what: 'a foreign DNS name',
      username: 'system:node:k8s-worker1',
      names: { dnsNames: ['k8s-worker1', 'kubernetes.default'], ipAddresses: [] },
      problem: 'it asks for DNS name kubernetes.default',
    },
    {
      what: 'a node cluster.yaml does not list',
      username: 'system:node:k8s-worker9',
      names: { dnsNames: ['k8s-worker9'], ipAddresses: [] },
      problem: 'node k8s-worker9 is not in cluster.yaml',
    },
    {
      what: 'a subject that is not the requester',
      username: 'system:node:k8s-worker2',
      names: { dnsNames: ['k8s-worker1'], ipAddresses: [] },
      problem: 'its subject (CN=system:node:k8s-worker1, O=system:nodes) is not system:node:k8s-worker2',
    },
    {
      what: 'a requester that is no kubelet',
      username: 'kubernetes-admin',
      names: { dnsNames: ['k8s-worker1'], ipAddresses: [] },
      problem: 'it was filed by "kubernetes-admin", not by a kubelet',
    },
  ])('leaves pending a request for $what, saying why', async ({ username, names, problem }) => {
    // The request's subject is always k8s-worker1's (the fourth case files it under another name).
    const pem = await createKubeletServingRequest('k8s-worker1', names);
    const verdict = await checkServingRequest(spec, csrFor(username, pem));
    expect('problem' in verdict && verdict.problem).toContain(problem);
  });

  it('leaves pending a request for client usages', async () => {
    const pem = await createKubeletServingRequest('k8s-worker1', {
      dnsNames: ['k8s-worker1'],
      ipAddresses: [],
    });
    const verdict = await checkServingRequest(spec, csrFor('system:node:k8s-worker1', pem, ['client auth']));
    expect('problem' in verdict && verdict.problem).toContain('usages client auth');
  });
});
