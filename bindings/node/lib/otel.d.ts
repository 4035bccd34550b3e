// Types of pyroscope-nodejs-native/otel (structural: no dependency on the
// OpenTelemetry packages' types).
export declare const PROFILE_ID: 'pyroscope.profile.id';
export declare class PyroscopeSpanProcessor {
  onStart(span: any, parentContext: any): void;
  onEnd(span: any): void;
  forceFlush(): Promise<void>;
  shutdown(): Promise<void>;
}
export declare class PyroscopeContextManager {
  constructor(inner?: any);
  active(): any;
  with<A extends unknown[], F extends (...args: A) => ReturnType<F>>(context: any, fn: F, thisArg?: ThisParameterType<F>, ...args: A): ReturnType<F>;
  bind<T>(context: any, target: T): T;
  enable(): this;
  disable(): this;
}
