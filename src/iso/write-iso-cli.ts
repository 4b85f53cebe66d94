#!/usr/bin/env node
/**
 * Developer tool (not a kubestation command): writes seed ISOs from files on
 * disk with buildIso(), so the writer can be timed as a whole process and
 * compared with genisoimage (scripts/bench/iso.mjs).
 *
 *   node dist/src/iso/write-iso-cli.js [--volid cidata] --out a.iso FILE... [--out b.iso FILE...]...
 *
 * Each `--out` starts a new ISO holding the files after it, named by their
 * base names. Images are written atomically (temp file, then rename).
 */
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describeError } from '../errors.js';
import { buildIso, type IsoFile } from './iso9660.js';

interface IsoJob {
  output: string;
  inputs: string[];
}

function parseJobs(argv: string[]): { volumeId: string; jobs: IsoJob[] } {
  let volumeId = 'cidata';
  const jobs: IsoJob[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--volid' || arg === '--out') {
      const value = argv[++i];
      if (value === undefined) throw new Error(`${arg} needs a value`);
      if (arg === '--volid') volumeId = value;
      else jobs.push({ output: value, inputs: [] });
    } else if (jobs.length === 0) {
      throw new Error(`'${arg}' comes before any --out`);
    } else {
      jobs[jobs.length - 1]!.inputs.push(arg);
    }
  }
  if (jobs.length === 0) throw new Error('usage: write-iso-cli [--volid cidata] --out a.iso FILE... [--out b.iso FILE...]...');
  return { volumeId, jobs };
}

function writeAtomically(file: string, data: Buffer): void {
  const temp = `${file}.${process.pid}.tmp`;
  writeFileSync(temp, data);
  renameSync(temp, file);
}

try {
  const { volumeId, jobs } = parseJobs(process.argv.slice(2));
  for (const job of jobs) {
    const files: IsoFile[] = job.inputs.map((input) => ({ name: path.basename(input), content: readFileSync(input) }));
    writeAtomically(job.output, buildIso(files, { volumeId }));
  }
} catch (error) {
  process.stderr.write(`write-iso-cli: ${describeError(error)}\n`);
  process.exitCode = 1;
}
