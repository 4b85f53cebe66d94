/** The lab user: SSH keys only over SSH, passwordless sudo, optional console password. */
import type { UserSpec } from '../../config/model.js';

export function usersCloudConfig(user: UserSpec, sshAuthorizedKeys: readonly string[]) {
  if (sshAuthorizedKeys.length === 0) throw new Error(`no SSH public key for user ${user.name}`);
  const password = user.passwordHash
    ? { lock_passwd: false, hashed_passwd: user.passwordHash }
    : { lock_passwd: true };
  return {
    // No "default" entry: the image's stock "ubuntu" user is not created.
    users: [
      {
        name: user.name,
        gecos: 'kubestation lab user',
        groups: ['adm', 'sudo'],
        shell: '/bin/bash',
        // A lab convenience: sudo without a password (there is none to type when only a key is set).
        sudo: 'ALL=(ALL) NOPASSWD:ALL',
        ...password,
        ssh_authorized_keys: [...sshAuthorizedKeys],
      },
    ],
    ssh_pwauth: false,
    disable_root: true,
  };
}
