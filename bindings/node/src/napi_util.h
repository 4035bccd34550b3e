// Small Node-API helpers shared by the addon's files.
#ifndef PYROSCOPE_NODE_NAPI_UTIL_H
#define PYROSCOPE_NODE_NAPI_UTIL_H

#define NAPI_VERSION 8
#include <node_api.h>

#include <string>
#include <vector>

#include "pyroscope.h"

// Return nullptr from a napi_callback when a Node-API call fails, with a JS
// exception pending.
#define CHECK_NAPI(call)                                                   \
    do {                                                                   \
        napi_status st_ = (call);                                          \
        if (st_ != napi_ok) {                                              \
            const napi_extended_error_info *ei_ = nullptr;                 \
            napi_get_last_error_info(env, &ei_);                           \
            bool pending_ = false;                                         \
            napi_is_exception_pending(env, &pending_);                     \
            if (!pending_)                                                 \
                napi_throw_error(env, nullptr,                             \
                                 ei_ && ei_->error_message                 \
                                     ? ei_->error_message                  \
                                     : "Node-API call failed");            \
            return nullptr;                                                \
        }                                                                  \
    } while (0)

namespace pyro_node {

napi_value undefined(napi_env env);
bool get_string(napi_env env, napi_value v, std::string *out);
bool prop_string(napi_env env, napi_value obj, const char *name,
                 std::string *out);
bool prop_int(napi_env env, napi_value obj, const char *name, int64_t *out);
bool prop_bool(napi_env env, napi_value obj, const char *name);
bool prop_pairs(napi_env env, napi_value obj, const char *name,
                std::vector<std::string> *out);
std::vector<pyroscope_tag> to_tags(const std::vector<std::string> &flat);
void throw_core_error(napi_env env, int rc, const char *what);

}  // namespace pyro_node

#endif
