'use strict';
// OpenTelemetry span profiles (traces to profiles) for Node.js.
//
//   const { PyroscopeSpanProcessor, PyroscopeContextManager } =
//     require('pyroscope-nodejs-native/otel');
//   provider.addSpanProcessor(new PyroscopeSpanProcessor());
//   provider.register({ contextManager: new PyroscopeContextManager() });
//
// The processor marks every local root span (no parent, or a remote one)
// with the attribute pyroscope.profile.id = its span id, and remembers the
// local root of every span it sees.  The context manager wraps another one
// (default: AsyncLocalStorageContextManager): whenever a context with a
// span becomes active, the code runs under the labels span_id (the local
// root's id) and span_name (its name), so the CPU and wall samples taken
// there carry them, across awaits and callbacks.  As in the official
// processors, only local roots label samples, which keeps the label's
// cardinality at one value per request.
const Pyroscope = require('./index');

const PROFILE_ID = 'pyroscope.profile.id';
const roots = new WeakMap(); // span -> { span_id, span_name } of its local root
let api = null;

function otelApi() {
  if (api === null) api = require('@opentelemetry/api');
  return api;
}

class PyroscopeSpanProcessor {
  onStart(span, parentContext) {
    const parent = parentContext ? otelApi().trace.getSpan(parentContext) : undefined;
    const inherited = parent && !parent.spanContext().isRemote ? roots.get(parent) : undefined;
    if (inherited) {
      roots.set(span, inherited);
      return;
    }
    const id = span.spanContext().spanId;
    span.setAttribute(PROFILE_ID, id);
    roots.set(span, { span_id: id, span_name: String(span.name || '').replace(/[{},=\u0000-\u001f]/g, '_').slice(0, 200) });
  }

  onEnd() {}

  forceFlush() {
    return Promise.resolve();
  }

  shutdown() {
    return Promise.resolve();
  }
}

class PyroscopeContextManager {
  constructor(inner) {
    if (inner === undefined) {
      const { AsyncLocalStorageContextManager } = require('@opentelemetry/context-async-hooks');
      inner = new AsyncLocalStorageContextManager();
    }
    this.inner = inner;
  }

  active() {
    return this.inner.active();
  }

  with(context, fn, thisArg, ...args) {
    const span = otelApi().trace.getSpan(context);
    const root = span ? roots.get(span) : undefined;
    if (root === undefined) return this.inner.with(context, fn, thisArg, ...args);
    return Pyroscope.wrapWithLabels(root, () => this.inner.with(context, fn, thisArg, ...args));
  }

  bind(context, target) {
    if (typeof target !== 'function') return this.inner.bind(context, target);
    const self = this;
    return function bound(...args) {
      return self.with(context, () => target.apply(this, args));
    };
  }

  enable() {
    this.inner.enable();
    return this;
  }

  disable() {
    this.inner.disable();
    return this;
  }
}

module.exports = { PyroscopeSpanProcessor, PyroscopeContextManager, PROFILE_ID };
