/**
 * Resumable, verified download of the Ubuntu cloud image.
 *
 * Bytes land in `<destination>.part`; an interrupted run (closed laptop,
 * reset connection, Ctrl-C) resumes with an HTTP Range request. A server that
 * ignores Range answers 200 with the whole body, and the part file is then
 * rewritten from byte 0. Only a file whose SHA-256 matches the published
 * SHA256SUMS is renamed to `<destination>`, so the final name always means
 * "complete and verified".
 */
import { createWriteStream } from 'node:fs';
import { rename, rm } from 'node:fs/promises';
import { pipeline } from 'node:stream/promises';
import { Transform } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { EnvHttpProxyAgent, interceptors, request, type Dispatcher } from 'undici';
import { KubestationError } from '../errors.js';
import { fileNameFromUrl, parseSha256Sums, sha256File } from './checksums.js';
import { fileSize } from './files.js';
import { silentProgress, type ProgressSink } from './progress-bar.js';

export interface HttpOptions {
  /** undici dispatcher; default honours HTTP(S)_PROXY/NO_PROXY and follows redirects. */
  dispatcher?: Dispatcher;
  /** Attempts per download before giving up on resets and 5xx (default 5). */
  maxAttempts?: number;
  /** First pause between attempts; doubles each time (default 1000 ms). */
  retryDelayMs?: number;
  /** Wait for response headers (default 30 s). */
  headersTimeoutMs?: number;
  /** Longest silence inside a body before the connection counts as dead (default 60 s). */
  bodyTimeoutMs?: number;
}

export interface DownloadTarget {
  url: string;
  /** The cluster.yaml setting that holds the URL, named in errors (e.g. "vmware.template.imageUrl"). */
  setting: string;
}

let defaultDispatcher: Dispatcher | undefined;

function dispatcherFor(options: HttpOptions): Dispatcher {
  if (options.dispatcher) return options.dispatcher;
  defaultDispatcher ??= new EnvHttpProxyAgent().compose(interceptors.redirect({ maxRedirections: 5 }));
  return defaultDispatcher;
}

/** Errors worth another attempt: the connection broke or timed out, not "the server said no". */
function isTransient(error: unknown): boolean {
  const code = (error as { code?: string } | undefined)?.code ?? '';
  return (
    code.startsWith('UND_ERR_') ||
    [
      'ECONNRESET',
      'ECONNREFUSED',
      'EPIPE',
      'ETIMEDOUT',
      'EAI_AGAIN',
      'ENOTFOUND',
      'ENETUNREACH',
      'ERR_STREAM_PREMATURE_CLOSE',
    ].includes(code)
  );
}

class RetryableStatus extends Error {
  constructor(readonly statusCode: number) {
    super(`HTTP ${statusCode}`);
  }
}

function notFound(target: DownloadTarget, statusCode: number): KubestationError {
  return new KubestationError(
    'DOWNLOAD_NOT_FOUND',
    `${target.url} answered HTTP ${statusCode}: the file is not there (set by ${target.setting} in cluster.yaml).`,
    {
      fix: `Open the folder of ${target.url} in a browser, pick a file that exists, and set ${target.setting} to its URL.`,
    },
  );
}

async function withRetries<T>(
  target: DownloadTarget,
  options: HttpOptions,
  attempt: () => Promise<T>,
): Promise<T> {
  const maxAttempts = options.maxAttempts ?? 5;
  let delay = options.retryDelayMs ?? 1000;
  for (let n = 1; ; n++) {
    try {
      return await attempt();
    } catch (error) {
      const retryable = error instanceof RetryableStatus || isTransient(error);
      if (!retryable || n >= maxAttempts) {
        if (error instanceof KubestationError) throw error;
        const what =
          error instanceof RetryableStatus
            ? `answered ${error.message}`
            : `failed: ${(error as Error).message}`;
        throw new KubestationError(
          'DOWNLOAD_FAILED',
          `Downloading ${target.url} ${what} (${n} attempt${n === 1 ? '' : 's'}).`,
          {
            fix: 'Check the network connection (and HTTPS_PROXY if you need a proxy), then run the command again; a partial download resumes where it stopped.',
            cause: error,
          },
        );
      }
      await sleep(delay);
      delay *= 2;
    }
  }
}

/** GETs a small text file (SHA256SUMS) with the same retry rules as the image. */
export async function fetchText(target: DownloadTarget, options: HttpOptions = {}): Promise<string> {
  return withRetries(target, options, async () => {
    const response = await request(target.url, {
      dispatcher: dispatcherFor(options),
      headersTimeout: options.headersTimeoutMs ?? 30_000,
      bodyTimeout: options.bodyTimeoutMs ?? 60_000,
    });
    if (response.statusCode === 404 || response.statusCode === 410) {
      await response.body.dump();
      throw notFound(target, response.statusCode);
    }
    if (response.statusCode !== 200) {
      await response.body.dump();
      if (response.statusCode >= 500 || response.statusCode === 429)
        throw new RetryableStatus(response.statusCode);
      throw new KubestationError('DOWNLOAD_FAILED', `${target.url} answered HTTP ${response.statusCode}.`, {
        fix: `Check ${target.setting} in cluster.yaml.`,
      });
    }
    return response.body.text();
  });
}

export interface DownloadResult {
  bytes: number;
  /** The server's Last-Modified header, if it sent one. */
  lastModified: string | undefined;
}

/** Downloads into `partPath`, resuming what is there. Does not verify; see downloadVerified. */
export async function downloadToPart(
  target: DownloadTarget,
  partPath: string,
  progress: ProgressSink,
  options: HttpOptions = {},
): Promise<DownloadResult> {
  let lastModified: string | undefined;
  await withRetries(target, options, async () => {
    const have = (await fileSize(partPath)) ?? 0;
    const response = await request(target.url, {
      dispatcher: dispatcherFor(options),
      headers: have > 0 ? { range: `bytes=${have}-` } : {},
      headersTimeout: options.headersTimeoutMs ?? 30_000,
      bodyTimeout: options.bodyTimeoutMs ?? 60_000,
    });
    const { statusCode, headers } = response;
    const header = (name: string): string | undefined => {
      const value = headers[name];
      return Array.isArray(value) ? value[0] : value;
    };
    if (statusCode === 404 || statusCode === 410) {
      await response.body.dump();
      throw notFound(target, statusCode);
    }
    if (statusCode === 416) {
      // The part file is as long as (or longer than) the file: start over rather than guess.
      await response.body.dump();
      await rm(partPath, { force: true });
      throw new RetryableStatus(416);
    }
    if (statusCode >= 500 || statusCode === 429) {
      await response.body.dump();
      throw new RetryableStatus(statusCode);
    }
    let append = false;
    let total: number | undefined;
    const contentLength = Number(header('content-length'));
    if (statusCode === 206) {
      const range = /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(header('content-range') ?? '');
      if (!range || Number(range[1]) !== have) {
        // A partial reply for some other range: distrust it and restart from byte 0.
        await response.body.dump();
        await rm(partPath, { force: true });
        throw new RetryableStatus(206);
      }
      append = true;
      total = range[3] === '*' ? undefined : Number(range[3]);
    } else if (statusCode === 200) {
      total = Number.isFinite(contentLength) ? contentLength : undefined;
    } else {
      await response.body.dump();
      throw new KubestationError('DOWNLOAD_FAILED', `${target.url} answered HTTP ${statusCode}.`, {
        fix: `Check ${target.setting} in cluster.yaml.`,
      });
    }
    lastModified = header('last-modified');
    const start = append ? have : 0;
    progress.start(fileNameFromUrl(target.url), total, start);
    const counter = new Transform({
      transform(chunk: Buffer, _encoding, callback) {
        progress.advance(chunk.length);
        callback(null, chunk);
      },
    });
    await pipeline(response.body, counter, createWriteStream(partPath, { flags: append ? 'a' : 'w' }));
    const written = (await fileSize(partPath)) ?? 0;
    if (total !== undefined && written !== total) {
      // The body ended early without an error (a proxy cut it): resume on the next attempt.
      throw Object.assign(new Error(`body ended at ${written} of ${total} bytes`), {
        code: 'ERR_STREAM_PREMATURE_CLOSE',
      });
    }
    progress.done();
  });
  return { bytes: (await fileSize(partPath)) ?? 0, lastModified };
}

export interface VerifiedDownload extends DownloadResult {
  sha256: string;
  path: string;
}

/** The SHA-256 that `checksums.url` lists for the file `image.url` names. */
export async function fetchExpectedSha256(
  image: DownloadTarget,
  checksums: DownloadTarget,
  options: HttpOptions = {},
): Promise<string> {
  const fileName = fileNameFromUrl(image.url);
  const expected = parseSha256Sums(await fetchText(checksums, options)).get(fileName);
  if (!expected) {
    throw new KubestationError(
      'CHECKSUM_NOT_LISTED',
      `${checksums.url} has no SHA-256 line for ${fileName} (the file ${image.setting} points at).`,
      {
        fix: `Set ${checksums.setting} to the SHA256SUMS file in the same folder as ${image.url}.`,
      },
    );
  }
  return expected;
}

/**
 * Downloads `image.url` to `destination` and checks it against the entry for
 * its file name in `checksums.url` (or `expectedSha256` when the caller
 * already read it). A mismatch deletes the download.
 */
export async function downloadVerified(
  image: DownloadTarget,
  checksums: DownloadTarget,
  destination: string,
  options: HttpOptions & { progress?: ProgressSink; expectedSha256?: string } = {},
): Promise<VerifiedDownload> {
  const expected = options.expectedSha256 ?? (await fetchExpectedSha256(image, checksums, options));
  const partPath = `${destination}.part`;
  const result = await downloadToPart(image, partPath, options.progress ?? silentProgress, options);
  const actual = await sha256File(partPath);
  if (actual !== expected) {
    await rm(partPath, { force: true });
    throw new KubestationError(
      'CHECKSUM_MISMATCH',
      `${image.url} downloaded, but its SHA-256 is ${actual} while ${checksums.url} lists ${expected}. The download was deleted.`,
      {
        fix: `Run the command again to download it afresh. If it fails again, the image changed upstream between the two files or a proxy alters it: try later, or set ${image.setting} and ${checksums.setting} to a dated image folder.`,
      },
    );
  }
  await rename(partPath, destination);
  return { ...result, sha256: actual, path: destination };
}
