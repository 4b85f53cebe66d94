import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { BuildStateStore, buildStatePath } from '../../src/bringup/state.js';

let dir: string | undefined;
afterEach(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
  dir = undefined;
});

describe('the state file under many parallel node updates', () => {
  it('each update is on disk when its promise resolves, none is lost, and no temporary file is left', async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'kubestation-state-'));
    const store = await BuildStateStore.open(dir, 'lab');
    const names = Array.from({ length: 60 }, (_, i) => `k8s-worker${i + 1}`);
    await Promise.all(
      names.map(async (name, i) => {
        // Spread over a few milliseconds, so updates keep arriving while earlier writes run.
        await new Promise((resolve) => setTimeout(resolve, (i * 7) % 23));
        await store.stepDone(name, 'clone', { vmxPath: `C:\\VMs\\${name}\\${name}.vmx` });
        // Resolved: this node's step is in the file, whatever the others are doing.
        const onDisk = JSON.parse(await readFile(buildStatePath(dir!), 'utf8')) as {
          nodes: Record<string, { step?: string }>;
        };
        expect(onDisk.nodes[name]?.step).toBe('clone');
      }),
    );
    await store.flush();
    const final = JSON.parse(await readFile(buildStatePath(dir), 'utf8')) as {
      nodes: Record<string, { step?: string; vmxPath?: string }>;
    };
    expect(Object.keys(final.nodes).sort()).toEqual([...names].sort());
    expect(final.nodes['k8s-worker7']?.vmxPath).toBe('C:\\VMs\\k8s-worker7\\k8s-worker7.vmx');
    expect((await readdir(dir)).filter((f) => f.endsWith('.tmp'))).toEqual([]);
  });
});
