'use strict';
// Labels that follow the async context.  Each distinct label set gets a
// numeric id (registered with the native side); the set of the running
// context lives in an AsyncLocalStorage, and an async_hooks before/after
// hook writes its id into a shared Int32Array ("label cell") that the
// native SIGPROF hook reads at every V8 sample.
const { AsyncLocalStorage, createHook } = require('async_hooks');
const { labelPairs, typeError, describe } = require('./config');

const MAX_LABEL_SETS = 10000;

function createLabels(native, logger) {
  const labelCell = new Int32Array(2);
  const als = new AsyncLocalStorage();
  const EMPTY_SET = Object.freeze({ id: 0, labels: Object.freeze({}) });
  const labelSets = new Map(); // canonical key -> { id, labels }
  let labelSetsFull = false;
  let hook = null;
  const cellStack = [];

  function ensureHook() {
    if (hook !== null) return;
    hook = createHook({
      before() {
        if (cellStack.length > 4096) cellStack.length = 0; // unbalanced; recover
        cellStack.push(labelCell[0]);
        const s = als.getStore();
        labelCell[0] = s === undefined ? 0 : s.id;
      },
      after() {
        labelCell[0] = cellStack.length > 0 ? cellStack.pop() : 0;
      },
    });
    hook.enable();
  }

  function internSet(pairs) {
    const kept = pairs.filter(([, v]) => v !== '').sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
    if (kept.length === 0) return EMPTY_SET;
    const key = kept.map(([k, v]) => `${k}\u0000${v}`).join('\u0001');
    let set = labelSets.get(key);
    if (set !== undefined) return set;
    if (labelSets.size >= MAX_LABEL_SETS) {
      if (!labelSetsFull) {
        labelSetsFull = true;
        logger.warn(`pyroscope: more than ${MAX_LABEL_SETS} distinct label sets; further new sets are not recorded (labels with unbounded values?)`);
      }
      return null;
    }
    const flat = [];
    const labels = {};
    for (const [k, v] of kept) {
      flat.push(k, v);
      labels[k] = v;
    }
    set = Object.freeze({ id: native.registerLabelSet(flat), labels: Object.freeze(labels) });
    labelSets.set(key, set);
    return set;
  }

  const check = (k, v) => native.tagCheck(k, v);

  function currentSet() {
    const s = als.getStore();
    return s === undefined ? EMPTY_SET : s;
  }

  function wrapWithLabels(labels, fn, ...args) {
    if (typeof fn !== 'function') {
      throw typeError('ERR_INVALID_ARG_TYPE', `wrapWithLabels(labels, fn): fn must be a function, got ${describe(fn)}`);
    }
    const pairs = labelPairs(labels, 'labels', check);
    const merged = new Map(Object.entries(currentSet().labels));
    for (const [k, v] of pairs) merged.set(k, v);
    const set = internSet([...merged]);
    if (set === null) return fn(...args);
    ensureHook();
    const prev = labelCell[0];
    labelCell[0] = set.id;
    try {
      return als.run(set, fn, ...args);
    } finally {
      labelCell[0] = prev;
    }
  }

  function setLabels(labels) {
    const set = internSet(labelPairs(labels, 'labels', check));
    if (set === null) return;
    ensureHook();
    als.enterWith(set);
    labelCell[0] = set.id;
  }

  function getLabels() {
    return { ...currentSet().labels };
  }

  return { labelCell, wrapWithLabels, setLabels, getLabels, check };
}

module.exports = { createLabels };
