// Small Node-API helpers shared by the addon's files.
#include "napi_util.h"

namespace pyro_node {

napi_value undefined(napi_env env) {
    napi_value u;
    napi_get_undefined(env, &u);
    return u;
}

bool get_string(napi_env env, napi_value v, std::string *out) {
    napi_valuetype t;
    if (napi_typeof(env, v, &t) != napi_ok || t != napi_string) return false;
    size_t len = 0;
    if (napi_get_value_string_utf8(env, v, nullptr, 0, &len) != napi_ok)
        return false;
    out->resize(len);
    if (napi_get_value_string_utf8(env, v, &(*out)[0], len + 1, &len) !=
        napi_ok)
        return false;
    out->resize(len);
    return true;
}

// Property `name` of `obj` as a string; false (and *out untouched) when the
// property is missing, null or undefined.
bool prop_string(napi_env env, napi_value obj, const char *name,
                 std::string *out) {
    napi_value v;
    if (napi_get_named_property(env, obj, name, &v) != napi_ok) return false;
    return get_string(env, v, out);
}

bool prop_int(napi_env env, napi_value obj, const char *name, int64_t *out) {
    napi_value v;
    napi_valuetype t;
    if (napi_get_named_property(env, obj, name, &v) != napi_ok) return false;
    if (napi_typeof(env, v, &t) != napi_ok || t != napi_number) return false;
    return napi_get_value_int64(env, v, out) == napi_ok;
}

bool prop_bool(napi_env env, napi_value obj, const char *name) {
    napi_value v;
    bool b = false;
    if (napi_get_named_property(env, obj, name, &v) != napi_ok) return false;
    if (napi_get_value_bool(env, v, &b) != napi_ok) return false;
    return b;
}

// A flat array [k0, v0, k1, v1, ...] of strings.
bool prop_pairs(napi_env env, napi_value obj, const char *name,
                std::vector<std::string> *out) {
    napi_value arr;
    bool is_array = false;
    if (napi_get_named_property(env, obj, name, &arr) != napi_ok) return false;
    if (napi_is_array(env, arr, &is_array) != napi_ok || !is_array)
        return false;
    uint32_t n = 0;
    napi_get_array_length(env, arr, &n);
    for (uint32_t i = 0; i < n; i++) {
        napi_value e;
        std::string s;
        if (napi_get_element(env, arr, i, &e) != napi_ok ||
            !get_string(env, e, &s))
            return false;
        out->push_back(std::move(s));
    }
    return true;
}

std::vector<pyroscope_tag> to_tags(const std::vector<std::string> &flat) {
    std::vector<pyroscope_tag> tags;
    for (size_t i = 0; i + 1 < flat.size(); i += 2)
        tags.push_back({flat[i].c_str(), flat[i + 1].c_str()});
    return tags;
}

void throw_core_error(napi_env env, int rc, const char *what) {
    std::string msg = std::string(what) + ": " + pyroscope_strerror(rc);
    const char *detail = pyroscope_last_error();
    if (detail && *detail) msg += std::string(" (") + detail + ")";
    if (rc == PYROSCOPE_EINVAL)
        napi_throw_type_error(env, nullptr, msg.c_str());
    else
        napi_throw_error(env, nullptr, msg.c_str());
}

}  // namespace pyro_node
