/** Streamed output as an async iterator. */
import type { OutputChunk } from './process.js';
import type { RunResult } from './result.js';

type Starter = (io: { onStdout: (s: string) => void; onStderr: (s: string) => void }) => Promise<RunResult>;

/**
 * A running command whose output arrives as it is written:
 *
 *     const s = stream(['make'], opts);
 *     for await (const {stream, data} of s) process[stream].write(data);
 *     const result = await s.result;
 *
 * Chunks are kept until they are read. Iterating throws what `result`
 * rejects with (a HutchError, an AbortError); `result` can be awaited
 * without iterating.
 */
export class RunStream implements AsyncIterable<OutputChunk> {
  /** The final result, once the command ended (its `stdout`/`stderr` are `""`). */
  readonly result: Promise<RunResult>;
  private readonly chunks: OutputChunk[] = [];
  private done = false;
  private failure: unknown = undefined;
  private wake: (() => void) | null = null;

  constructor(start: Starter) {
    const push = (c: OutputChunk): void => {
      this.chunks.push(c);
      this.notify();
    };
    this.result = start({
      onStdout: (data) => push({ stream: 'stdout', data }),
      onStderr: (data) => push({ stream: 'stderr', data }),
    });
    this.result.then(
      () => {
        this.done = true;
        this.notify();
      },
      (e: unknown) => {
        this.done = true;
        this.failure = e ?? new Error('the run failed');
        this.notify();
      },
    );
  }

  private notify(): void {
    const w = this.wake;
    this.wake = null;
    w?.();
  }

  async *[Symbol.asyncIterator](): AsyncIterator<OutputChunk> {
    for (;;) {
      if (this.chunks.length > 0) {
        yield this.chunks.shift()!;
        continue;
      }
      if (this.done) {
        if (this.failure !== undefined) throw this.failure;
        return;
      }
      await new Promise<void>((resolve) => (this.wake = resolve));
    }
  }
}
