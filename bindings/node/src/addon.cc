// Node.js binding of the pyroscope C core.
//
// Two parts:
//   * the core's start/stop/flush/tag API, bound with Node-API only;
//   * JavaScript frames (the section marked "V8" below): V8's
//     CpuProfiler samples the main thread, and each upload window (or more
//     often) its samples are turned into pyroscope_add_sample() calls.
//
// Labels: JavaScript keeps the id of the label set active in the current
// async context in a shared Int32Array ("label cell").  A SIGPROF handler
// chained in front of V8's own records (timestamp, cell) at every V8 sample
// signal; the conversion matches each CpuProfile sample timestamp with the
// newest record at or before it, so each sample gets the label set that was
// active when the main thread was interrupted.

#define NAPI_VERSION 8
#include <node_api.h>

#include <v8-isolate.h>
#include <v8-profiler.h>

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <time.h>

#include <atomic>
#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

#include "pyroscope.h"

namespace {

// ---------------------------------------------------------------- helpers

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

// ---------------------------------------------------------------- state

struct LabelRecord {
    int64_t ts_us;  // CLOCK_MONOTONIC, the clock of V8's TimeTicks on Linux
    int32_t id;     // label set id, 0 = none
};

constexpr uint64_t kRingSize = 1u << 16;  // power of two
LabelRecord g_ring[kRingSize];
std::atomic<uint64_t> g_ring_head{0};  // written only by the signal handler
uint64_t g_ring_tail = 0;              // read position (main thread)
LabelRecord g_last_record = {0, 0};
bool g_have_last_record = false;

volatile int32_t *g_cell = nullptr;  // label cell (ArrayBuffer data)
napi_ref g_cell_ref = nullptr;
pthread_t g_main_thread;

struct sigaction g_prev_sigprof;  // V8's handler, which we chain to
bool g_chained = false;

pyroscope *g_p = nullptr;
napi_env g_env = nullptr;  // the environment (main thread) that started
v8::CpuProfiler *g_cpu = nullptr;
v8::ProfilerId g_profile_id = 0;
bool g_profiling = false;
int g_interval_us = 10000;
int64_t g_last_sample_ts = INT64_MIN;
bool g_keep_program = false;  // report "(program)" samples (debug aid)

// label set id -> flat [k, v, ...]; index 0 is the empty set
std::vector<std::vector<std::string>> g_label_sets(1);

struct Counters {
    uint64_t v8_samples = 0;       // samples read from CpuProfiles
    uint64_t reported = 0;         // samples passed to pyroscope_add_sample
    uint64_t idle = 0;             // (idle)/(program) samples dropped
    uint64_t labelled = 0;         // samples that carried a label set
    uint64_t unmatched = 0;        // no signal record close to the sample
    uint64_t add_errors = 0;
    uint64_t collections = 0;
    int64_t max_gap_us = 0;        // largest sample-minus-record distance
    int64_t collect_cpu_us = 0;    // main-thread CPU spent in collect()
} g_counters;

int64_t thread_cpu_us() {
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

// ---------------------------------------------------------------- signals

void on_sigprof(int sig, siginfo_t *info, void *uc) {
    int saved_errno = errno;
    if (g_cell != nullptr && pthread_equal(pthread_self(), g_main_thread)) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        uint64_t h = g_ring_head.load(std::memory_order_relaxed);
        LabelRecord &r = g_ring[h & (kRingSize - 1)];
        r.ts_us = (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
        r.id = *g_cell;
        g_ring_head.store(h + 1, std::memory_order_release);
    }
    errno = saved_errno;
    if (g_prev_sigprof.sa_flags & SA_SIGINFO) {
        if (g_prev_sigprof.sa_sigaction) g_prev_sigprof.sa_sigaction(sig, info, uc);
    } else if (g_prev_sigprof.sa_handler != SIG_DFL &&
               g_prev_sigprof.sa_handler != SIG_IGN) {
        g_prev_sigprof.sa_handler(sig);
    }
}

bool chain_sigprof() {
    if (g_chained) return true;
    struct sigaction cur;
    if (sigaction(SIGPROF, nullptr, &cur) != 0) return false;
    // Only chain when V8 installed its handler (it does when the sampler
    // starts); otherwise SIGPROF would terminate the process when forwarded.
    if (!(cur.sa_flags & SA_SIGINFO) && (cur.sa_handler == SIG_DFL ||
                                        cur.sa_handler == SIG_IGN))
        return false;
    g_prev_sigprof = cur;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_sigprof;
    sa.sa_flags = SA_SIGINFO | SA_RESTART | SA_ONSTACK;
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGPROF, &sa, nullptr) != 0) return false;
    g_chained = true;
    return true;
}

void unchain_sigprof() {
    if (!g_chained) return;
    sigaction(SIGPROF, &g_prev_sigprof, nullptr);
    g_chained = false;
}

// A real-time signal nobody handles, for the core's own CPU timers, so that
// they never reach V8's SIGPROF handler.
int pick_core_signal() {
    for (int s = SIGRTMIN + 6; s <= SIGRTMAX - 2; s++) {
        struct sigaction cur;
        if (sigaction(s, nullptr, &cur) != 0) continue;
        if (!(cur.sa_flags & SA_SIGINFO) && cur.sa_handler == SIG_DFL)
            return s;
    }
    return 0;
}

// ---------------------------------------------------------------- frame provider

bool g_native_threads = false;

int capture_deferred(uint64_t *words, int max, int64_t weight, void *payload) {
    (void)words; (void)max; (void)weight; (void)payload;
    // The main thread's JavaScript is sampled by V8's CpuProfiler; other
    // threads (GC helpers, libuv pool) get native stacks when asked for.
    if (g_native_threads && !pthread_equal(pthread_self(), g_main_thread))
        return 0;
    return PYROSCOPE_FRAMES_DEFERRED;
}

int symbolize_none(uint64_t, uint64_t, pyroscope_frame *, void *) {
    return 1;
}

// ---------------------------------------------------------------- V8

bool start_v8_profile() {
    v8::CpuProfilingOptions opts(v8::kLeafNodeLineNumbers,
                                 v8::CpuProfilingOptions::kNoSampleLimit,
                                 g_interval_us);
    v8::CpuProfilingResult r = g_cpu->Start(std::move(opts));
    if (r.status == v8::CpuProfilingStatus::kErrorTooManyProfilers)
        return false;
    g_profile_id = r.id;
    g_profiling = true;
    return true;
}

bool is_idle_name(const char *name) {
    return strcmp(name, "(idle)") == 0 ||
           (!g_keep_program && strcmp(name, "(program)") == 0);
}

struct SampleKey {
    const v8::CpuProfileNode *node;
    int32_t label;
    bool operator==(const SampleKey &o) const {
        return node == o.node && label == o.label;
    }
};
struct SampleKeyHash {
    size_t operator()(const SampleKey &k) const {
        return std::hash<const void *>()(k.node) * 31 + (size_t)k.label;
    }
};

// Convert `prof` into pyroscope_add_sample() calls, skipping samples already
// reported from an overlapping earlier profile.
void convert_profile(const v8::CpuProfile *prof) {
    int n = prof->GetSamplesCount();
    uint64_t head = g_ring_head.load(std::memory_order_acquire);
    uint64_t r = g_ring_tail;
    if (head - r > kRingSize) r = head - kRingSize;  // overwritten records
    std::unordered_map<SampleKey, int64_t, SampleKeyHash> agg;
    int64_t last_ts = g_last_sample_ts;
    for (int i = 0; i < n; i++) {
        int64_t ts = prof->GetSampleTimestamp(i);
        if (ts <= g_last_sample_ts) continue;
        if (ts > last_ts) last_ts = ts;
        const v8::CpuProfileNode *node = prof->GetSample(i);
        if (node == nullptr) continue;
        g_counters.v8_samples++;
        while (r < head && g_ring[r & (kRingSize - 1)].ts_us <= ts) {
            g_last_record = g_ring[r & (kRingSize - 1)];
            g_have_last_record = true;
            r++;
        }
        int32_t label = 0;
        int64_t gap = ts - g_last_record.ts_us;
        if (g_have_last_record && gap >= 0 && gap < g_interval_us) {
            label = g_last_record.id;
            if (gap > g_counters.max_gap_us) g_counters.max_gap_us = gap;
        } else {
            g_counters.unmatched++;
        }
        if (is_idle_name(node->GetFunctionNameStr())) {
            g_counters.idle++;
            continue;
        }
        if (label < 0 || (size_t)label >= g_label_sets.size()) label = 0;
        agg[SampleKey{node, label}]++;
    }
    g_ring_tail = r;
    g_last_sample_ts = last_ts;

    std::vector<pyroscope_frame> frames;
    for (auto &kv : agg) {
        frames.clear();
        for (const v8::CpuProfileNode *nd = kv.first.node;
             nd != nullptr && nd->GetParent() != nullptr;  // skip (root)
             nd = nd->GetParent()) {
            pyroscope_frame f;
            const char *fn = nd->GetFunctionNameStr();
            f.function = (fn && *fn) ? fn : "(anonymous)";
            const char *file = nd->GetScriptResourceNameStr();
            f.file = (file && *file) ? file : nullptr;
            int line = nd->GetLineNumber();
            f.line = line > 0 ? line : 0;
            frames.push_back(f);
            if (frames.size() >= 1024) break;
        }
        if (frames.empty()) continue;
        int64_t count = kv.second;
        std::vector<pyroscope_tag> tags;
        if (kv.first.label != 0) {
            tags = to_tags(g_label_sets[kv.first.label]);
            g_counters.labelled += (uint64_t)count;
        }
        int rc = pyroscope_add_sample(g_p, PYROSCOPE_PROFILE_CPU, frames.data(),
                                      frames.size(), &count, 1,
                                      tags.empty() ? nullptr : tags.data(),
                                      tags.size());
        if (rc == 0)
            g_counters.reported += (uint64_t)count;
        else
            g_counters.add_errors++;
    }
}

// Swap the running V8 profile for a fresh one and report the old one's
// samples.  With restart=false the profiler is left stopped.
void collect(bool restart) {
    if (!g_profiling || g_cpu == nullptr) return;
    int64_t t0 = thread_cpu_us();
    v8::ProfilerId old = g_profile_id;
    bool restarted = restart && start_v8_profile();
    if (!restarted) {
        // Unchain before V8's sampler goes away (V8 then restores the
        // handler it found, which must not be ours).
        unchain_sigprof();
        g_profiling = false;
    }
    v8::CpuProfile *prof = g_cpu->Stop(old);
    if (prof != nullptr) {
        if (g_p != nullptr) convert_profile(prof);
        prof->Delete();
    }
    g_counters.collections++;
    g_counters.collect_cpu_us += thread_cpu_us() - t0;
}

void stop_v8() {
    collect(false);
    if (g_cpu != nullptr) {
        g_cpu->Dispose();
        g_cpu = nullptr;
    }
}

// ---------------------------------------------------------------- JS API

// start(config) -> undefined.  config is pre-validated in lib/index.js:
// { appName, serverAddress, sampleRate, uploadIntervalMs, tags: [k,v,..],
//   authToken, basicAuthUser, basicAuthPassword, tenantID,
//   httpHeaders: [k,v,..], logLevel, stopTimeoutMs, uploadTimeoutMs,
//   nativeThreads, labelCell: Int32Array }
napi_value Start(napi_env env, napi_callback_info info) {
    size_t argc = 1;
    napi_value argv[1];
    CHECK_NAPI(napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr));
    if (g_p != nullptr || pyroscope_current() != nullptr) {
        napi_throw_error(env, "EBUSY",
                         "pyroscope: a profiler is already running in this "
                         "process");
        return nullptr;
    }
    napi_value o = argv[0];
    std::string app, server, auth, buser, bpass, tenant;
    std::vector<std::string> tags, headers;
    int64_t rate = 100, upload_ms = 0, level = -1, stop_ms = 0, up_timeout = 0;
    prop_string(env, o, "appName", &app);
    prop_string(env, o, "serverAddress", &server);
    prop_string(env, o, "authToken", &auth);
    prop_string(env, o, "basicAuthUser", &buser);
    prop_string(env, o, "basicAuthPassword", &bpass);
    prop_string(env, o, "tenantID", &tenant);
    prop_pairs(env, o, "tags", &tags);
    prop_pairs(env, o, "httpHeaders", &headers);
    prop_int(env, o, "sampleRate", &rate);
    prop_int(env, o, "uploadIntervalMs", &upload_ms);
    prop_int(env, o, "logLevel", &level);
    prop_int(env, o, "stopTimeoutMs", &stop_ms);
    prop_int(env, o, "uploadTimeoutMs", &up_timeout);
    g_native_threads = prop_bool(env, o, "nativeThreads");
    g_keep_program = prop_bool(env, o, "keepProgramSamples");

    std::vector<pyroscope_tag> ctags = to_tags(tags);
    std::vector<pyroscope_tag> cheaders = to_tags(headers);

    pyroscope_config cfg;
    pyroscope_config_init(&cfg, PYROSCOPE_CONFIG_VERSION);
    cfg.application_name = app.empty() ? nullptr : app.c_str();
    cfg.server_address = server.empty() ? nullptr : server.c_str();
    cfg.sample_rate = (int)rate;
    cfg.upload_interval_ms = (int)upload_ms;
    cfg.tags = ctags.empty() ? nullptr : ctags.data();
    cfg.tags_count = ctags.size();
    cfg.auth_token = auth.empty() ? nullptr : auth.c_str();
    cfg.basic_auth_user = buser.empty() ? nullptr : buser.c_str();
    cfg.basic_auth_password = bpass.empty() ? nullptr : bpass.c_str();
    cfg.tenant_id = tenant.empty() ? nullptr : tenant.c_str();
    cfg.http_headers = cheaders.empty() ? nullptr : cheaders.data();
    cfg.http_headers_count = cheaders.size();
    // V8's CpuProfiler supplies the JavaScript samples; the core's own
    // timers are only needed when native stacks of other threads are wanted.
    cfg.profile_types = g_native_threads ? PYROSCOPE_PROFILE_CPU
                                         : PYROSCOPE_PROFILE_CPU_EXTERNAL;
    if (level >= 0) cfg.log_level = (int)level;
    cfg.spy_name = "pyroscope-nodejs";
    cfg.stop_timeout_ms = (int)stop_ms;
    cfg.upload_timeout_ms = (int)up_timeout;
    cfg.signal = pick_core_signal();

    // label cell
    napi_value cell;
    if (napi_get_named_property(env, o, "labelCell", &cell) == napi_ok) {
        bool is_ta = false;
        napi_is_typedarray(env, cell, &is_ta);
        if (is_ta) {
            napi_typedarray_type tt;
            size_t len;
            void *data;
            CHECK_NAPI(napi_get_typedarray_info(env, cell, &tt, &len, &data,
                                                nullptr, nullptr));
            if (tt == napi_int32_array && len >= 1) {
                if (g_cell_ref) napi_delete_reference(env, g_cell_ref);
                CHECK_NAPI(napi_create_reference(env, cell, 1, &g_cell_ref));
                g_cell = (volatile int32_t *)data;
            }
        }
    }

    g_main_thread = pthread_self();
    pyroscope *p = nullptr;
    int rc = pyroscope_start(&p, &cfg);
    if (rc != 0) {
        throw_core_error(env, rc, "pyroscope_start");
        return nullptr;
    }
    pyroscope_frame_provider prov;
    memset(&prov, 0, sizeof prov);
    prov.version = 1;
    prov.capture = capture_deferred;
    prov.symbolize = symbolize_none;
    prov.native_frames = 0;
    rc = g_native_threads ? pyroscope_set_frame_provider(p, &prov) : 0;
    if (rc != 0) {
        pyroscope_stop(p);
        throw_core_error(env, rc, "pyroscope_set_frame_provider");
        return nullptr;
    }
    g_p = p;
    g_env = env;

    // V8 CPU profiler on this (the main) isolate.
    g_interval_us = (int)(1000000 / (rate > 0 ? rate : 100));
    if (g_interval_us < 100) g_interval_us = 100;
    v8::Isolate *isolate = v8::Isolate::GetCurrent();
    g_cpu = v8::CpuProfiler::New(isolate, v8::kDebugNaming, v8::kLazyLogging);
    g_cpu->SetSamplingInterval(g_interval_us);
    g_cpu->SetUsePreciseSampling(false);
    g_last_sample_ts = INT64_MIN;
    g_ring_tail = g_ring_head.load();
    g_have_last_record = false;
    if (!start_v8_profile()) {
        g_cpu->Dispose();
        g_cpu = nullptr;
        g_p = nullptr;
        pyroscope_stop(p);
        napi_throw_error(env, nullptr, "pyroscope: V8 CpuProfiler failed to start");
        return nullptr;
    }
    chain_sigprof();
    return undefined(env);
}

// collect() -> undefined: report what V8 sampled so far.
napi_value Collect(napi_env env, napi_callback_info info) {
    (void)info;
    collect(true);
    return undefined(env);
}

struct AsyncCall {
    napi_async_work work = nullptr;
    napi_deferred deferred = nullptr;
    pyroscope *p = nullptr;
    int timeout_ms = 0;
    int rc = 0;
    bool is_stop = false;
};

void async_execute(napi_env, void *data) {
    AsyncCall *c = static_cast<AsyncCall *>(data);
    if (c->is_stop)
        pyroscope_stop(c->p);
    else
        c->rc = pyroscope_flush(c->p, c->timeout_ms);
}

void async_complete(napi_env env, napi_status, void *data) {
    AsyncCall *c = static_cast<AsyncCall *>(data);
    napi_value v;
    napi_get_boolean(env, c->rc == 0, &v);
    napi_resolve_deferred(env, c->deferred, v);
    napi_delete_async_work(env, c->work);
    delete c;
}

napi_value queue_call(napi_env env, AsyncCall *c, const char *name) {
    napi_value promise, res_name;
    CHECK_NAPI(napi_create_promise(env, &c->deferred, &promise));
    CHECK_NAPI(napi_create_string_utf8(env, name, NAPI_AUTO_LENGTH, &res_name));
    CHECK_NAPI(napi_create_async_work(env, nullptr, res_name, async_execute,
                                      async_complete, c, &c->work));
    CHECK_NAPI(napi_queue_async_work(env, c->work));
    return promise;
}

// flush(timeoutMs) -> Promise<boolean>: collect, then upload off-thread.
napi_value Flush(napi_env env, napi_callback_info info) {
    size_t argc = 1;
    napi_value argv[1];
    CHECK_NAPI(napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr));
    int32_t timeout = 5000;
    if (argc >= 1) napi_get_value_int32(env, argv[0], &timeout);
    if (g_p == nullptr) {
        napi_throw_error(env, "ESTATE", "pyroscope: not started");
        return nullptr;
    }
    collect(true);
    AsyncCall *c = new AsyncCall;
    c->p = g_p;
    c->timeout_ms = timeout;
    return queue_call(env, c, "pyroscope.flush");
}

pyroscope *detach() {
    stop_v8();
    pyroscope *p = g_p;
    g_p = nullptr;
    return p;
}

// stop() -> Promise<true>: final collection, then pyroscope_stop() off-thread.
napi_value Stop(napi_env env, napi_callback_info info) {
    (void)info;
    pyroscope *p = detach();
    AsyncCall *c = new AsyncCall;
    c->p = p;
    c->is_stop = true;
    return queue_call(env, c, "pyroscope.stop");
}

// stopSync(): the same, blocking (process exit).
napi_value StopSync(napi_env env, napi_callback_info info) {
    (void)info;
    pyroscope_stop(detach());
    return undefined(env);
}

// tagCheck(key, value) -> null | "message"
napi_value TagCheck(napi_env env, napi_callback_info info) {
    size_t argc = 2;
    napi_value argv[2];
    CHECK_NAPI(napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr));
    std::string k, v;
    if (argc < 2 || !get_string(env, argv[0], &k) ||
        !get_string(env, argv[1], &v)) {
        napi_throw_type_error(env, nullptr, "tagCheck(key, value): strings");
        return nullptr;
    }
    int rc = pyroscope_tag_check(k.c_str(), v.c_str());
    if (rc == 0) {
        napi_value n;
        napi_get_null(env, &n);
        return n;
    }
    std::string msg = pyroscope_last_error();
    if (msg.empty()) msg = pyroscope_strerror(rc);
    napi_value s;
    CHECK_NAPI(napi_create_string_utf8(env, msg.c_str(), msg.size(), &s));
    return s;
}

// registerLabelSet([k, v, ...]) -> id (> 0)
napi_value RegisterLabelSet(napi_env env, napi_callback_info info) {
    size_t argc = 1;
    napi_value argv[1];
    CHECK_NAPI(napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr));
    napi_value holder;
    CHECK_NAPI(napi_create_object(env, &holder));
    if (argc >= 1) napi_set_named_property(env, holder, "v", argv[0]);
    std::vector<std::string> flat;
    if (!prop_pairs(env, holder, "v", &flat) || flat.size() % 2 != 0) {
        napi_throw_type_error(env, nullptr,
                              "registerLabelSet: [key, value, ...] strings");
        return nullptr;
    }
    g_label_sets.push_back(std::move(flat));
    napi_value id;
    CHECK_NAPI(napi_create_int32(env, (int32_t)(g_label_sets.size() - 1), &id));
    return id;
}

void set_num(napi_env env, napi_value o, const char *k, double v) {
    napi_value n;
    napi_create_double(env, v, &n);
    napi_set_named_property(env, o, k, n);
}

// stats() -> { core: {...} | null, v8: {...} }
napi_value Stats(napi_env env, napi_callback_info info) {
    (void)info;
    napi_value o, v8o;
    CHECK_NAPI(napi_create_object(env, &o));
    CHECK_NAPI(napi_create_object(env, &v8o));
    set_num(env, v8o, "samples", (double)g_counters.v8_samples);
    set_num(env, v8o, "reported", (double)g_counters.reported);
    set_num(env, v8o, "idle", (double)g_counters.idle);
    set_num(env, v8o, "labelled", (double)g_counters.labelled);
    set_num(env, v8o, "unmatched", (double)g_counters.unmatched);
    set_num(env, v8o, "addErrors", (double)g_counters.add_errors);
    set_num(env, v8o, "collections", (double)g_counters.collections);
    set_num(env, v8o, "maxGapUs", (double)g_counters.max_gap_us);
    set_num(env, v8o, "collectCpuUs", (double)g_counters.collect_cpu_us);
    set_num(env, v8o, "signalRecords", (double)g_ring_head.load());
    napi_value b;
    napi_get_boolean(env, g_chained, &b);
    napi_set_named_property(env, v8o, "chained", b);
    napi_set_named_property(env, o, "v8", v8o);
    napi_value core;
    pyroscope_stats st;
    if (g_p != nullptr && pyroscope_get_stats(g_p, &st) == 0) {
        CHECK_NAPI(napi_create_object(env, &core));
        set_num(env, core, "samples", (double)st.samples);
        set_num(env, core, "samplesDropped", (double)st.samples_dropped);
        set_num(env, core, "profilesUploaded", (double)st.profiles_uploaded);
        set_num(env, core, "profilesDropped", (double)st.profiles_dropped);
        set_num(env, core, "uploadFailures", (double)st.upload_failures);
        set_num(env, core, "threadsProfiled", (double)st.threads_profiled);
        set_num(env, core, "queuedBytes", (double)st.queued_bytes);
    } else {
        napi_get_null(env, &core);
    }
    napi_set_named_property(env, o, "core", core);
    return o;
}

napi_value Version(napi_env env, napi_callback_info info) {
    (void)info;
    napi_value s;
    CHECK_NAPI(napi_create_string_utf8(env, pyroscope_version(),
                                       NAPI_AUTO_LENGTH, &s));
    return s;
}

napi_value Running(napi_env env, napi_callback_info info) {
    (void)info;
    napi_value b;
    napi_get_boolean(env, g_p != nullptr, &b);
    return b;
}

void cleanup_hook(void *arg) {
    // Teardown of the environment that started profiling, without stop():
    // leave V8 and the core cleanly.  Worker environments that merely
    // loaded the addon must not touch the main isolate's profiler.
    if (g_p != nullptr && static_cast<napi_env>(arg) == g_env) {
        pyroscope_stop(detach());
        g_env = nullptr;
    }
}

}  // namespace

NAPI_MODULE_INIT() {
    static const struct {
        const char *name;
        napi_callback cb;
    } fns[] = {
        {"start", Start},         {"collect", Collect},
        {"flush", Flush},         {"stop", Stop},
        {"stopSync", StopSync},   {"tagCheck", TagCheck},
        {"registerLabelSet", RegisterLabelSet},
        {"stats", Stats},         {"version", Version},
        {"running", Running},
    };
    for (const auto &f : fns) {
        napi_value fn;
        if (napi_create_function(env, f.name, NAPI_AUTO_LENGTH, f.cb, nullptr,
                                 &fn) != napi_ok)
            return nullptr;
        napi_set_named_property(env, exports, f.name, fn);
    }
    napi_add_env_cleanup_hook(env, cleanup_hook, env);
    // Keep inlining positions in optimized code so that samples inside
    // inlined functions are attributed to them (V8 only records them when
    // asked, and code optimized earlier would lack them).  Done at load,
    // before start(), so that code optimized meanwhile has them too.
    v8::Isolate *isolate = v8::Isolate::GetCurrent();
    if (isolate != nullptr)
        v8::CpuProfiler::UseDetailedSourcePositionsForProfiling(isolate);
    return exports;
}
