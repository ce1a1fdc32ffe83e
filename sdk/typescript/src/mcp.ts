/**
 * A client of `hutch mcp` over stdio (docs/mcp.md): one long-lived child per
 * session, newline-delimited JSON-RPC, requests multiplexed by id,
 * cancellation with `notifications/cancelled`.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { AbortError, HutchError, lastLine } from './errors.js';
import { hutchBinary, type ClientOptions } from './process.js';
import type { ToolResult } from './result.js';

/** A tool as `tools/list` describes it. */
export interface ToolInfo {
  name: string;
  title?: string;
  description: string;
  inputSchema: Record<string, unknown>;
  annotations?: Record<string, unknown>;
}

export const PROTOCOL_VERSION = '2025-11-25';
export const SDK_VERSION = '0.1.0';

interface Pending {
  resolve: (v: unknown) => void;
  reject: (e: Error) => void;
}

export class McpClient {
  private child: ChildProcessWithoutNullStreams | null = null;
  private ready: Promise<void> | null = null;
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private stderr = '';
  private buf = '';
  private exited: Promise<void> | null = null;
  private toolList: Promise<ToolInfo[]> | null = null;
  private closing = false;

  constructor(
    private readonly client: ClientOptions | undefined,
    private readonly args: string[],
  ) {}

  /** The command line of the server. */
  get command(): string[] {
    return [hutchBinary(this.client), ...this.args];
  }

  /** Starts the server and does the handshake, once; later calls share it. */
  start(): Promise<void> {
    if (this.ready) return this.ready;
    this.ready = this.startOnce();
    this.ready.catch(() => {});
    return this.ready;
  }

  private async startOnce(): Promise<void> {
    const bin = hutchBinary(this.client);
    const child = spawn(bin, this.args, { stdio: ['pipe', 'pipe', 'pipe'], env: this.client?.hutchEnv ?? process.env });
    this.child = child;
    child.stdout.setEncoding('utf8');
    child.stderr.setEncoding('utf8');
    child.stdout.on('data', (s: string) => this.onData(s));
    child.stderr.on('data', (s: string) => {
      this.stderr += s;
      if (this.stderr.length > 65536) this.stderr = this.stderr.slice(-32768);
    });
    child.stdin.on('error', () => {});
    let spawnError: Error | undefined;
    child.on('error', (e) => (spawnError = e));
    this.exited = new Promise<void>((resolve) => {
      child.on('close', (code, sig) => {
        const why = spawnError
          ? `cannot start ${bin}: ${spawnError.message} (set HUTCH_BIN or the hutch option)`
          : lastLine(this.stderr) || `hutch mcp ended (exit status ${code ?? 'none'}, signal ${sig ?? 'none'})`;
        const err = new HutchError(why, { exitCode: code, stderr: this.stderr, command: this.command });
        for (const p of this.pending.values()) p.reject(err);
        this.pending.clear();
        this.child = null;
        // A later call starts a new server (unless the session was closed).
        if (!this.closing) this.ready = null;
        this.toolList = null;
        resolve();
      });
    });
    await this.request('initialize', {
      protocolVersion: PROTOCOL_VERSION,
      capabilities: {},
      clientInfo: { name: 'hutch-sandbox', version: SDK_VERSION },
    });
    this.send({ jsonrpc: '2.0', method: 'notifications/initialized' });
  }

  private onData(s: string): void {
    this.buf += s;
    let nl: number;
    while ((nl = this.buf.indexOf('\n')) >= 0) {
      const line = this.buf.slice(0, nl);
      this.buf = this.buf.slice(nl + 1);
      if (line.trim() === '') continue;
      let msg: Record<string, unknown>;
      try {
        msg = JSON.parse(line) as Record<string, unknown>;
      } catch {
        continue; // hutch keeps stdout for protocol messages; never seen
      }
      if ('method' in msg) {
        // A request of the server's (elicitation/create): this client
        // declares no elicitation capability, so hutch does not send one;
        // answer any request anyway so that nothing waits forever.
        if ('id' in msg) {
          this.send({ jsonrpc: '2.0', id: msg['id'], error: { code: -32601, message: 'not supported by hutch-sandbox' } });
        }
        continue;
      }
      const id = msg['id'];
      if (typeof id !== 'number') continue;
      const p = this.pending.get(id);
      if (!p) continue;
      this.pending.delete(id);
      if (msg['error']) {
        const e = msg['error'] as { code?: number; message?: string };
        p.reject(new HutchError(e.message ?? 'hutch mcp refused the call', { code: e.code ?? null, command: this.command }));
      } else {
        p.resolve(msg['result']);
      }
    }
  }

  private send(msg: unknown): void {
    this.child?.stdin.write(JSON.stringify(msg) + '\n');
  }

  /** Sends a request and waits for its answer; aborting cancels it. */
  request(method: string, params: unknown, signal?: AbortSignal): Promise<unknown> {
    if (!this.child) return Promise.reject(new HutchError('hutch mcp is not running', { command: this.command }));
    if (signal?.aborted) {
      return Promise.reject(new AbortError('the call was aborted before it started', undefined, signal.reason));
    }
    const id = this.nextId++;
    return new Promise<unknown>((resolve, reject) => {
      const onAbort = (): void => {
        if (!this.pending.delete(id)) return;
        this.send({ jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: id, reason: 'aborted' } });
        reject(new AbortError('the tool call was aborted: hutch killed its processes', undefined, signal?.reason));
      };
      this.pending.set(id, {
        resolve: (v) => {
          signal?.removeEventListener('abort', onAbort);
          resolve(v);
        },
        reject: (e) => {
          signal?.removeEventListener('abort', onAbort);
          reject(e);
        },
      });
      signal?.addEventListener('abort', onAbort, { once: true });
      this.send({ jsonrpc: '2.0', id, method, params });
    });
  }

  /** `tools/list`, asked once per server. */
  async listTools(signal?: AbortSignal): Promise<ToolInfo[]> {
    await this.start();
    if (!this.toolList) {
      this.toolList = this.request('tools/list', {}, signal).then((r) => (r as { tools: ToolInfo[] }).tools);
      this.toolList.catch(() => (this.toolList = null));
    }
    return this.toolList;
  }

  /** `tools/call`: the tool's result object (`structuredContent`). */
  async callTool(name: string, args: Record<string, unknown>, signal?: AbortSignal): Promise<ToolResult> {
    if (signal?.aborted) throw new AbortError('the call was aborted before it started', undefined, signal.reason);
    await this.start();
    const r = (await this.request('tools/call', { name, arguments: args }, signal)) as {
      structuredContent?: ToolResult;
      content?: { type: string; text?: string }[];
      isError?: boolean;
    };
    if (r.structuredContent && typeof r.structuredContent === 'object') return r.structuredContent;
    const text = (r.content ?? []).filter((c) => c.type === 'text').map((c) => c.text ?? '').join('');
    return r.isError ? { ok: false, error: text } : { ok: true, text };
  }

  /** Ends the server: closes its stdin (running calls finish), SIGTERM after `graceMs`. */
  async close(graceMs = 5000): Promise<void> {
    this.closing = true;
    const child = this.child;
    if (!child || !this.exited) return;
    child.stdin.end();
    const t = setTimeout(() => child.kill('SIGTERM'), graceMs);
    await this.exited;
    clearTimeout(t);
    this.ready = null;
    this.closing = false;
  }
}
