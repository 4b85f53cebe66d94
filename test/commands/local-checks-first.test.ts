/**
 * `up` and `build-template` check what they can on this PC (is Workstation
 * installed where cluster.yaml says?) before asking for vmrest's username and
 * password: nobody types a password for a run that fails anyway.
 */
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { run as runBuildTemplate } from '../../src/commands/build-template.js';
import { runUp } from '../../src/commands/up.js';
import type { PromptFunction } from '../../src/vmrest/credentials.js';
import {
  captureOutput,
  startImageServer,
  writeTemplateCluster,
  type ImageServer,
} from '../template/fixtures.js';

let dir: string;
let server: ImageServer;
let clusterFile: string;
let emptyFolder: string;
const questions: string[] = [];
const prompt: PromptFunction = async (question) => {
  questions.push(question);
  return 'typed';
};

beforeEach(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'ks-local-first-'));
  server = await startImageServer(Buffer.from('unused'));
  // A Workstation folder without vmware-vdiskmanager in it; vmrest is never reached (the port is closed).
  emptyFolder = path.join(dir, 'VMware Workstation');
  await mkdir(emptyFolder);
  clusterFile = await writeTemplateCluster(dir, {
    vmrestUrl: 'http://127.0.0.1:9/api',
    installFolder: emptyFolder,
    server,
  });
  questions.length = 0;
});
afterEach(async () => {
  await server.close();
  await rm(dir, { recursive: true, force: true });
});

describe('local checks come before the vmrest credentials', () => {
  it('up stops at "Workstation not found" without asking for the credentials', async () => {
    const run = runUp(
      {
        argv: ['--cluster', clusterFile],
        stdout: captureOutput().stream,
        stderr: captureOutput().stream,
        env: {},
        cwd: dir,
      },
      { prompt },
    );
    await expect(run).rejects.toMatchObject({
      code: 'WORKSTATION_NOT_FOUND',
      message: expect.stringContaining(emptyFolder),
    });
    expect(questions).toEqual([]);
  });

  it('build-template does the same (no terminal to ask: the credentials error would come first otherwise)', async () => {
    const run = runBuildTemplate({
      argv: ['--cluster', clusterFile],
      stdout: captureOutput().stream,
      stderr: captureOutput().stream,
      env: {},
      cwd: dir,
    });
    await expect(run).rejects.toMatchObject({ code: 'WORKSTATION_NOT_FOUND' });
  });
});
