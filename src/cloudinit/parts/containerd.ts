/**
 * containerd's whole config.toml, for both config formats: version 2 (the
 * containerd 1.7 format) and version 3 (containerd 2.x, different plugin
 * ids). Both go onto the node; containerd.sh picks one from
 * `containerd --version`. Writing the whole file (instead of editing
 * `containerd config default`) avoids the 2.0.0–2.0.6 / 2.1.0–2.1.4 defaults
 * that lack SystemdCgroup, and Docker's packaged file that disables CRI.
 */
import { PINNED_SANDBOX_IMAGE } from '../guest.js';
import { renderToml, type TomlTable } from './toml.js';

export type ContainerdConfigVersion = 2 | 3;

export function containerdConfigTables(version: ContainerdConfigVersion, sandboxImage: string): TomlTable[] {
  const cri =
    version === 3 ? ['plugins', 'io.containerd.cri.v1.runtime'] : ['plugins', 'io.containerd.grpc.v1.cri'];
  const sandbox: TomlTable =
    version === 3
      ? {
          path: ['plugins', 'io.containerd.cri.v1.images', 'pinned_images'],
          values: { sandbox: sandboxImage },
        }
      : { path: cri, values: { sandbox_image: sandboxImage } };
  return [
    sandbox,
    { path: [...cri, 'containerd'], values: { default_runtime_name: 'runc' } },
    { path: [...cri, 'containerd', 'runtimes', 'runc'], values: { runtime_type: 'io.containerd.runc.v2' } },
    // Same driver as the kubelet (KubeletConfiguration.cgroupDriver: systemd); a mismatch crash-loops the control plane.
    { path: [...cri, 'containerd', 'runtimes', 'runc', 'options'], values: { SystemdCgroup: true } },
    // Where flannel/calico install their plugins and configs (hostPath /opt/cni/bin, /etc/cni/net.d).
    { path: [...cri, 'cni'], values: { bin_dir: '/opt/cni/bin', conf_dir: '/etc/cni/net.d' } },
  ];
}

export function renderContainerdConfig(
  version: ContainerdConfigVersion,
  sandboxImage = PINNED_SANDBOX_IMAGE,
): string {
  const header = `# Written by kubestation for containerd ${version === 3 ? '2.x' : '1.7'} (config version ${version}).\n`;
  return renderToml(
    {
      version,
      root: '/var/lib/containerd',
      state: '/run/containerd',
      // Docker's containerd.io ships disabled_plugins = ["cri"]; say explicitly that nothing is disabled.
      disabled_plugins: [],
    },
    [
      { path: ['grpc'], values: { address: '/run/containerd/containerd.sock' } },
      ...containerdConfigTables(version, sandboxImage),
    ],
    header,
  );
}
