'use strict';
// Preloaded into workers started while profiling: attaches the worker's
// isolate to the main thread's profiler.
require('./index').start();
