export type LabelSet = Record<string, string | number>;

export interface PyroscopeConfig {
  appName?: string;
  applicationName?: string;
  serverAddress?: string;
  tags?: LabelSet;
  sampleRate?: number;
  authToken?: string;
  basicAuthUser?: string;
  basicAuthPassword?: string;
  tenantID?: string;
  httpHeaders?: Record<string, string>;
  flushIntervalMs?: number;
  uploadIntervalMs?: number;
  logLevel?: 'none' | 'error' | 'warn' | 'info' | 'debug' | 0 | 1 | 2 | 3 | 4;
  stopTimeoutMs?: number;
  uploadTimeoutMs?: number;
  collectIntervalMs?: number;
  nativeThreads?: boolean;
  flushOnExit?: boolean;
  /** Accepted for compatibility with @pyroscope/nodejs; not used. */
  wall?: unknown;
  heap?: unknown;
  sourceMapper?: unknown;
}

export interface Stats {
  core: null | {
    samples: number; samplesDropped: number; profilesUploaded: number; profilesDropped: number;
    uploadFailures: number; threadsProfiled: number; queuedBytes: number;
  };
  v8: {
    samples: number; reported: number; idle: number; labelled: number; unmatched: number;
    addErrors: number; collections: number; maxGapUs: number; collectCpuUs: number; signalRecords: number; chained: boolean;
  };
}

type Middleware = (req: any, res: any, next: (...args: any[]) => any) => any;

export function init(config?: PyroscopeConfig): void;
export function start(): void;
export function stop(): Promise<void>;
export function flush(timeoutMs?: number): Promise<boolean>;
export function startCpuProfiling(): void;
export function stopCpuProfiling(): Promise<void>;
export function startWallProfiling(): void;
export function stopWallProfiling(): Promise<void>;
export function startHeapProfiling(): void;
export function stopHeapProfiling(): Promise<void>;
export function isRunning(): boolean;
export function wrapWithLabels<A extends unknown[], R>(labels: LabelSet, fn: (...args: A) => R, ...args: A): R;
export function setLabels(labels: LabelSet): void;
export function getLabels(): Record<string, string>;
export function getWallLabels(): Record<string, string>;
export function setWallLabels(labels: LabelSet): void;
export function expressMiddleware(options?: ((req: any, res: any) => LabelSet) | { labels?: (req: any, res: any) => LabelSet }): Middleware;
export function stats(): Stats;
export const version: string;

declare const Pyroscope: {
  init: typeof init; start: typeof start; stop: typeof stop; flush: typeof flush;
  startCpuProfiling: typeof startCpuProfiling; stopCpuProfiling: typeof stopCpuProfiling;
  startWallProfiling: typeof startWallProfiling; stopWallProfiling: typeof stopWallProfiling;
  startHeapProfiling: typeof startHeapProfiling; stopHeapProfiling: typeof stopHeapProfiling;
  isRunning: typeof isRunning; wrapWithLabels: typeof wrapWithLabels; setLabels: typeof setLabels;
  getLabels: typeof getLabels; getWallLabels: typeof getWallLabels; setWallLabels: typeof setWallLabels;
  expressMiddleware: typeof expressMiddleware; stats: typeof stats; version: string;
};
export default Pyroscope;
