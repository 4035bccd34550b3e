// Types of pyroscope-nodejs-native: the surface of @pyroscope/nodejs 0.6
// (same names and shapes) plus this package's extensions.

export type LabelSet = Record<string, string | number>;
export type TagList = LabelSet;
export type StripFilenamesMode = 'all' | 'dependencies';

export interface PyroscopeWallConfig {
  /** Accepted for compatibility; continuous profiling uploads every flushIntervalMs. */
  samplingDurationMs?: number | undefined;
  /** Sampling period, default 10000 (100 Hz). Env PYROSCOPE_WALL_SAMPLING_INTERVAL_MICROS. */
  samplingIntervalMicros?: number | undefined;
  /** Add cpu/nanoseconds to the wall profile. Env PYROSCOPE_WALL_COLLECT_CPU_TIME. */
  collectCpuTime?: boolean | undefined;
}

export interface PyroscopeHeapConfig {
  /** Mean bytes between heap samples, default 524288. Env PYROSCOPE_HEAP_SAMPLING_INTERVAL_BYTES. */
  samplingIntervalBytes?: number | undefined;
  /** Default 64. Env PYROSCOPE_HEAP_STACK_DEPTH. */
  stackDepth?: number | undefined;
}

export interface PyroscopeConfig {
  appName?: string | undefined;
  authToken?: string | undefined;
  /** Upload period, default 60000 ms (as @pyroscope/nodejs 0.6). Env PYROSCOPE_FLUSH_INTERVAL_MS. */
  flushIntervalMs?: number | undefined;
  heap?: PyroscopeHeapConfig | undefined;
  /** Default http://localhost:4040; also file:///dir. Env PYROSCOPE_SERVER_ADDRESS. */
  serverAddress?: string | undefined;
  tags?: LabelSet | undefined;
  wall?: PyroscopeWallConfig | undefined;
  sourceMapper?: SourceMapper | undefined;
  basicAuthUser?: string | undefined;
  basicAuthPassword?: string | undefined;
  tenantID?: string | undefined;
  stripFilenames?: StripFilenamesMode | undefined;
  shortenPaths?: boolean | undefined;
  // ---- extensions of this package
  applicationName?: string | undefined;
  /** Hz; an alternative to wall.samplingIntervalMicros. */
  sampleRate?: number | undefined;
  httpHeaders?: Record<string, string> | undefined;
  uploadIntervalMs?: number | undefined;
  logLevel?: 'none' | 'error' | 'warn' | 'info' | 'debug' | 0 | 1 | 2 | 3 | 4 | undefined;
  stopTimeoutMs?: number | undefined;
  uploadTimeoutMs?: number | undefined;
  collectIntervalMs?: number | undefined;
  nativeThreads?: boolean | undefined;
  flushOnExit?: boolean | undefined;
  /** Also send a process_cpu profile (default true). */
  cpu?: boolean | undefined;
  /** Profile worker_threads started while profiling (default true). */
  workers?: boolean | undefined;
  /** 'ingest' (default) or 'push'. Env PYROSCOPE_API. */
  api?: 'ingest' | 'push' | undefined;
}

export interface Logger {
  error(...args: Array<{}>): void;
  trace(...args: Array<{}>): void;
  debug(...args: Array<{}>): void;
  info(...args: Array<{}>): void;
  warn(...args: Array<{}>): void;
  fatal(...args: Array<{}>): void;
}
export declare class NullLogger implements Logger {
  info(...args: Array<{}>): void;
  error(...args: Array<{}>): void;
  trace(...args: Array<{}>): void;
  warn(...args: Array<{}>): void;
  fatal(...args: Array<{}>): void;
  debug(...args: Array<{}>): void;
}

export interface GeneratedLocation { file: string; name?: string; line: number; column: number; }
export interface SourceLocation { file?: string; name?: string; line?: number; column?: number; }
export declare class SourceMapper {
  infoMap: Map<string, unknown>;
  debug: boolean;
  static create(searchDirs: string[], debug?: boolean): Promise<SourceMapper>;
  constructor(debug?: boolean);
  hasMappingInfo(inputPath: string): boolean;
  mappingInfo(location: GeneratedLocation): SourceLocation;
}

export interface ExpressRequest { method: string; path: string; query: Record<string, unknown>; }
export interface ExpressResponse {
  status(code: number): this;
  send(body: unknown): this;
  sendStatus(code: number): this;
}
export type ExpressNextFunction = (err?: unknown) => void;
export interface FastifyInstance {
  get<T>(path: string, handler: (request: any, reply: any) => Promise<void>): void;
}
export type FastifyDoneCallback = (err?: Error) => void;
export type FastifyPluginCallback = (instance: FastifyInstance, options: Record<string, unknown>, done: FastifyDoneCallback) => void;

export declare function init(config?: PyroscopeConfig): void;
export declare function start(): void;
export declare function stop(): Promise<void>;
export declare function wrapWithLabels<R>(lbls: LabelSet, fn: (...args: any[]) => R, ...args: unknown[]): R;
export declare function getLabels(): LabelSet;
export declare function setLabels(labels: LabelSet): void;
export declare function getWallLabels(): LabelSet;
export declare function setWallLabels(labels: LabelSet): void;
export declare function startWallProfiling(): void;
export declare function stopWallProfiling(): Promise<void>;
export declare function startCpuProfiling(): void;
export declare function stopCpuProfiling(): Promise<void>;
export declare function startHeapProfiling(): void;
export declare function stopHeapProfiling(): Promise<void>;
export declare function setLogger(logger: Logger): void;
export declare function expressMiddleware(): (req: ExpressRequest, res: ExpressResponse, next: ExpressNextFunction) => void;
export declare function fastifyMiddleware(): FastifyPluginCallback;
/** This package's labelling middleware: runs each request under fn(req)'s labels. */
export declare function labelMiddleware(options?: ((req: any, res: any) => LabelSet) | { labels?: (req: any, res: any) => LabelSet }):
  (req: any, res: any, next: (err?: unknown) => void) => void;
export declare function flush(timeoutMs?: number): Promise<boolean>;
export declare function isRunning(): boolean;
export declare function stats(): { core: Record<string, number> | null; v8: Record<string, number | boolean> };
export declare const version: string;
export declare const VERSION: string;

declare const Pyroscope: {
  SourceMapper: typeof SourceMapper;
  NullLogger: typeof NullLogger;
  expressMiddleware: typeof expressMiddleware;
  fastifyMiddleware: typeof fastifyMiddleware;
  labelMiddleware: typeof labelMiddleware;
  init: typeof init;
  getWallLabels: typeof getWallLabels;
  setWallLabels: typeof setWallLabels;
  getLabels: typeof getLabels;
  setLabels: typeof setLabels;
  wrapWithLabels: typeof wrapWithLabels;
  start: typeof start;
  startHeapProfiling: typeof startHeapProfiling;
  startWallProfiling: typeof startWallProfiling;
  startCpuProfiling: typeof startCpuProfiling;
  stop: typeof stop;
  stopHeapProfiling: typeof stopHeapProfiling;
  stopWallProfiling: typeof stopWallProfiling;
  stopCpuProfiling: typeof stopCpuProfiling;
  setLogger: typeof setLogger;
  flush: typeof flush;
  isRunning: typeof isRunning;
  stats: typeof stats;
  version: string;
  VERSION: string;
  default: typeof Pyroscope;
};
export default Pyroscope;
