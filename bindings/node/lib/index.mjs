// ESM entry: the same module as the CommonJS one, with named exports.
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const Pyroscope = require('./index.js');

export const {
  SourceMapper, expressMiddleware, fastifyMiddleware, labelMiddleware, init,
  getWallLabels, setWallLabels, getLabels, setLabels, wrapWithLabels, start,
  startHeapProfiling, startWallProfiling, startCpuProfiling, stop,
  stopHeapProfiling, stopWallProfiling, stopCpuProfiling, setLogger,
  NullLogger, flush, isRunning, stats, version, VERSION,
} = Pyroscope;
export default Pyroscope;
