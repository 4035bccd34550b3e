// Pull mode (/debug/pprof/profile, /debug/pprof/heap): a separate V8
// profile of the calling isolate, and its live sampled heap, handed to JS.
#ifndef PYROSCOPE_NODE_PULL_H
#define PYROSCOPE_NODE_PULL_H

#include "napi_util.h"

namespace pyro_node {

napi_value PullStart(napi_env env, napi_callback_info info);
napi_value PullStop(napi_env env, napi_callback_info info);
napi_value PullHeap(napi_env env, napi_callback_info info);

}  // namespace pyro_node

#endif
