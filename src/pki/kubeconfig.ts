/** A kubeconfig with everything embedded (base64 *-data fields), usable by kubectl and src/kube. */
import yaml from 'js-yaml';

export interface KubeconfigInput {
  clusterName: string;
  /** API server URL, e.g. "https://172.100.100.2:6443". */
  server: string;
  caCertPem: string;
  userName: string;
  clientCertPem: string;
  clientKeyPem: string;
}

const base64 = (text: string): string => Buffer.from(text, 'utf8').toString('base64');

export function renderKubeconfig(input: KubeconfigInput): string {
  const contextName = `${input.userName}@${input.clusterName}`;
  const document = {
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [
      {
        name: input.clusterName,
        cluster: { server: input.server, 'certificate-authority-data': base64(input.caCertPem) },
      },
    ],
    users: [
      {
        name: input.userName,
        user: {
          'client-certificate-data': base64(input.clientCertPem),
          'client-key-data': base64(input.clientKeyPem),
        },
      },
    ],
    contexts: [{ name: contextName, context: { cluster: input.clusterName, user: input.userName } }],
    'current-context': contextName,
    preferences: {},
  };
  return yaml.dump(document, { lineWidth: -1, noRefs: true });
}
