// Node.js binding of the pyroscope C core.
//
// Two parts:
//   * the core's start/stop/flush/tag API, bound with Node-API only;
//   * JavaScript frames (the sections marked "V8" below): in every profiled
//     isolate (the main thread and each worker that attaches) V8's
//     CpuProfiler samples the thread, and V8's sampling heap profiler
//     records live allocations.  Their samples become pyroscope_add_sample()
//     calls: CPU (on-thread samples), WALL (samples, wall ns, optional cpu
//     ns) and HEAP_LIVE (one snapshot per upload window).
//
// Labels: JavaScript keeps the id of the label set active in the current
// async context in a shared Int32Array ("label cell").  A SIGPROF handler
// chained in front of V8's own records (timestamp, cell, thread CPU time) at
// every V8 sample signal, in the slot of the thread it interrupted; the
// conversion matches each CpuProfile sample timestamp with the newest
// record at or before it, so each sample gets the label set that was active
// when the thread was interrupted, and the CPU time it used since the
// previous sample.

#define NAPI_VERSION 8
#include <node_api.h>

#include <v8.h>
#include <v8-profiler.h>

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <time.h>

#include <atomic>
#include <mutex>
#include <shared_mutex>
#include <cstdint>
#include <string>
#include <tuple>
#include <unordered_map>
#include <vector>

#include "frames.h"
#include "napi_util.h"
#include "pull.h"
#include "signals.h"
#include "pyroscope.h"

using namespace pyro_node;

namespace {

// ---------------------------------------------------------------- state

int g_v8_users = 0;  // isolates with a running CpuProfiler profile

std::mutex g_lock;  // label sets, instances, V8 users (workers run concurrently)
// Held shared while samples are added (from any isolate's thread), and
// exclusively while the main thread takes the core away at stop.
std::shared_mutex g_core_mu;
pyroscope *g_p = nullptr;
napi_env g_main_env = nullptr;

// label set id -> flat [k, v, ...]; index 0 is the empty set
std::vector<std::vector<std::string>> g_label_sets(1);

// Options shared by all instances, set by start().
struct Options {
    int interval_us = 10000;
    bool wall = true;          // send WALL samples
    bool cpu = true;           // send CPU samples
    bool collect_cpu_time = false;
    bool heap = true;
    int64_t heap_interval = 512 * 1024;
    int heap_depth = 64;
} g_opt;

struct Counters {
    uint64_t v8_samples = 0;    // samples read from CpuProfiles
    uint64_t reported = 0;      // CPU samples passed to pyroscope_add_sample
    uint64_t idle = 0;          // (idle)/(program) samples dropped
    uint64_t labelled = 0;      // samples that carried a label set
    uint64_t unmatched = 0;     // no signal record close to the sample
    uint64_t add_errors = 0;
    uint64_t collections = 0;
    uint64_t heap_snapshots = 0;
    uint64_t heap_samples = 0;
    int64_t max_gap_us = 0;     // largest sample-minus-record distance
    int64_t collect_cpu_us = 0; // CPU spent in collect() (all threads)
};

// A profiled isolate: the main thread's, or a worker's.
struct Instance {
    napi_env env = nullptr;
    v8::Isolate *isolate = nullptr;
    int slot = -1;
    napi_ref cell_ref = nullptr;
    v8::CpuProfiler *cpu = nullptr;
    v8::ProfilerId profile_id = 0;
    bool profiling = false;
    bool heap = false;
    int64_t last_sample_ts = INT64_MIN;
    uint64_t ring_tail = 0;
    LabelRecord last_record = {0, 0, 0};
    bool have_last_record = false;
    int64_t last_cpu_ns = -1;
    int thread_id = 0;  // worker_threads.threadId
    napi_ref mapper = nullptr;  // JS (file, line, column, name) -> [file, line, name]
    // generated "file\0line\0column\0name" -> original [name, file, line]
    std::unordered_map<std::string, std::tuple<std::string, std::string, int>> mapped;
    Counters counters;
};
std::vector<Instance *> g_instances;
Counters g_last_counters;  // of the last stopped main-thread instance
thread_local Instance *t_inst = nullptr;  // the calling env's instance

int64_t thread_cpu_us() {
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

// ---------------------------------------------------------------- frame provider

bool g_native_threads = false;

int capture_deferred(uint64_t *words, int max, int64_t weight, void *payload) {
    (void)words; (void)max; (void)weight; (void)payload;
    // JavaScript threads are sampled by V8; other threads (GC helpers,
    // libuv pool) get native stacks when asked for.
    for (int i = 0; i < kMaxSlots; i++)
        if (g_slots[i].active.load(std::memory_order_acquire) == 1 &&
            pthread_equal(g_slots[i].thread, pthread_self()))
            return PYROSCOPE_FRAMES_DEFERRED;
    return g_native_threads ? 0 : PYROSCOPE_FRAMES_DEFERRED;
}

int symbolize_none(uint64_t, uint64_t, pyroscope_frame *, void *) {
    return 1;
}

std::vector<pyroscope_tag> label_tags(int32_t label) {
    std::vector<pyroscope_tag> tags;
    if (label <= 0) return tags;
    std::lock_guard<std::mutex> g(g_lock);
    if ((size_t)label >= g_label_sets.size()) return tags;
    const std::vector<std::string> &flat = g_label_sets[label];
    for (size_t i = 0; i + 1 < flat.size(); i += 2)
        tags.push_back({flat[i].c_str(), flat[i + 1].c_str()});
    return tags;
}

// ---------------------------------------------------------------- V8 CPU

// Count isolates whose CpuProfiler runs; chain our handler in front of
// V8's when the first starts, and unchain before the last stops (V8 then
// restores the handler it found, which must not be ours).
void v8_user(int delta) {
    std::lock_guard<std::mutex> g(g_lock);
    g_v8_users += delta;
    if (delta > 0)
        chain_sigprof();
    else if (g_v8_users == 0)
        unchain_sigprof();
}

bool start_v8_profile(Instance *in) {
    v8::CpuProfilingOptions opts(v8::kLeafNodeLineNumbers,
                                 v8::CpuProfilingOptions::kNoSampleLimit,
                                 g_opt.interval_us);
    v8::CpuProfilingResult r = in->cpu->Start(std::move(opts));
    if (r.status == v8::CpuProfilingStatus::kErrorTooManyProfilers)
        return false;
    in->profile_id = r.id;
    in->profiling = true;
    return true;
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
struct Agg {
    int64_t count = 0;
    int64_t cpu_ns = 0;
};

// Through the SourceMapper (when one is set on this isolate): the original
// function name, file and line of a compiled position.  Cached per
// isolate; called on the isolate's own thread, so JS may run.
void map_position(Instance *in, const char **fn, const char **file, int *line,
                  int column) {
    if (in->mapper == nullptr || *file == nullptr || **file == '\0') return;
    std::string key = std::string(*file) + '\0' + std::to_string(*line) + '\0' +
                      std::to_string(column) + '\0' + (*fn ? *fn : "");
    auto it = in->mapped.find(key);
    if (it == in->mapped.end()) {
        std::tuple<std::string, std::string, int> t(*fn ? *fn : "", *file, *line);
        napi_env env = in->env;
        napi_value cb, global, argv[4], res;
        if (napi_get_reference_value(env, in->mapper, &cb) == napi_ok &&
            napi_get_global(env, &global) == napi_ok) {
            napi_create_string_utf8(env, *file, NAPI_AUTO_LENGTH, &argv[0]);
            napi_create_int32(env, *line, &argv[1]);
            napi_create_int32(env, column, &argv[2]);
            napi_create_string_utf8(env, *fn ? *fn : "", NAPI_AUTO_LENGTH, &argv[3]);
            if (napi_call_function(env, global, cb, 4, argv, &res) == napi_ok) {
                bool is_array = false;
                napi_is_array(env, res, &is_array);
                if (is_array) {
                    napi_value e;
                    std::string sv;
                    int32_t ln = 0;
                    if (napi_get_element(env, res, 0, &e) == napi_ok && get_string(env, e, &sv))
                        std::get<1>(t) = sv;
                    if (napi_get_element(env, res, 1, &e) == napi_ok &&
                        napi_get_value_int32(env, e, &ln) == napi_ok)
                        std::get<2>(t) = ln;
                    if (napi_get_element(env, res, 2, &e) == napi_ok && get_string(env, e, &sv) && !sv.empty())
                        std::get<0>(t) = sv;
                }
            } else {
                bool pending = false;
                napi_is_exception_pending(env, &pending);
                if (pending) {
                    napi_value ex;
                    napi_get_and_clear_last_exception(env, &ex);
                }
            }
        }
        if (in->mapped.size() > 200000) in->mapped.clear();  // bound memory
        it = in->mapped.emplace(std::move(key), std::move(t)).first;
    }
    *fn = std::get<0>(it->second).c_str();
    *file = std::get<1>(it->second).c_str();
    *line = std::get<2>(it->second);
}

void report_stack(Instance *in, const v8::CpuProfileNode *leaf, int32_t label,
                  const Agg &a) {
    std::vector<FrameNames> names;
    for (const v8::CpuProfileNode *nd = leaf;
         nd != nullptr && nd->GetParent() != nullptr;  // skip (root)
         nd = nd->GetParent()) {
        const char *fn = nd->GetFunctionNameStr();
        const char *file = nd->GetScriptResourceNameStr();
        int line = nd->GetLineNumber();
        map_position(in, &fn, &file, &line, nd->GetColumnNumber());
        names.emplace_back();
        names.back().set(fn, file, line);
        if (names.size() >= 1024) break;
    }
    if (names.empty()) return;
    std::vector<pyroscope_frame> frames(names.size());
    for (size_t i = 0; i < names.size(); i++) {
        frames[i].function = names[i].name.c_str();
        frames[i].file = names[i].file.empty() ? nullptr : names[i].file.c_str();
        frames[i].line = names[i].line;
    }
    std::vector<pyroscope_tag> tags = label_tags(label);
    const pyroscope_tag *tp = tags.empty() ? nullptr : tags.data();
    if (!tags.empty()) in->counters.labelled += (uint64_t)a.count;
    if (g_opt.cpu) {
        // The CPU time the thread used while these samples were taken (V8
        // samples on wall-clock time; on a busy machine a sample can stand
        // for much less CPU than its period).  Without signal records (no
        // chained handler), count the period per sample.
        int64_t v[2] = {a.count, a.cpu_ns};
        int rc = pyroscope_add_sample(g_p, PYROSCOPE_PROFILE_CPU, frames.data(),
                                      frames.size(), v, g_chained ? 2 : 1, tp,
                                      tags.size());
        if (rc == 0)
            in->counters.reported += (uint64_t)a.count;
        else
            in->counters.add_errors++;
    }
    if (g_opt.wall) {
        int64_t v[3] = {a.count, a.count * (int64_t)g_opt.interval_us * 1000,
                        g_opt.collect_cpu_time ? a.cpu_ns : 0};
        if (pyroscope_add_sample(g_p, PYROSCOPE_PROFILE_WALL, frames.data(),
                                 frames.size(), v, 3, tp, tags.size()) != 0)
            in->counters.add_errors++;
    }
}

// Convert `prof` into samples, skipping those already reported from an
// overlapping earlier profile.
void convert_profile(Instance *in, const v8::CpuProfile *prof) {
    Slot *slot = in->slot >= 0 ? &g_slots[in->slot] : nullptr;
    int n = prof->GetSamplesCount();
    uint64_t head = slot ? slot->head.load(std::memory_order_acquire) : 0;
    uint64_t r = in->ring_tail;
    if (head - r > kRingSize) r = head - kRingSize;  // overwritten records
    std::unordered_map<SampleKey, Agg, SampleKeyHash> agg;
    int64_t last_ts = in->last_sample_ts;
    for (int i = 0; i < n; i++) {
        int64_t ts = prof->GetSampleTimestamp(i);
        if (ts <= in->last_sample_ts) continue;
        if (ts > last_ts) last_ts = ts;
        const v8::CpuProfileNode *node = prof->GetSample(i);
        if (node == nullptr) continue;
        in->counters.v8_samples++;
        bool fresh = false;
        while (slot && r < head && slot->ring[r & (kRingSize - 1)].ts_us <= ts) {
            in->last_record = slot->ring[r & (kRingSize - 1)];
            in->have_last_record = true;
            fresh = true;
            r++;
        }
        int32_t label = 0;
        int64_t cpu_ns = 0;
        int64_t gap = ts - in->last_record.ts_us;
        if (in->have_last_record && gap >= 0 && gap < g_opt.interval_us) {
            label = in->last_record.id;
            if (gap > in->counters.max_gap_us) in->counters.max_gap_us = gap;
            if (fresh) {
                if (in->last_cpu_ns >= 0 && in->last_record.cpu_ns > in->last_cpu_ns)
                    cpu_ns = in->last_record.cpu_ns - in->last_cpu_ns;
                in->last_cpu_ns = in->last_record.cpu_ns;
            }
        } else {
            in->counters.unmatched++;
        }
        if (is_idle_name(node->GetFunctionNameStr())) {
            in->counters.idle++;
            continue;
        }
        if (label < 0) label = 0;
        Agg &a = agg[SampleKey{node, label}];
        a.count++;
        a.cpu_ns += cpu_ns;
    }
    in->ring_tail = r;
    in->last_sample_ts = last_ts;
    for (auto &kv : agg) report_stack(in, kv.first.node, kv.first.label, kv.second);
}

// Swap the running V8 profile for a fresh one and report the old one's
// samples.  With restart=false the profiler is left stopped.
void collect(Instance *in, bool restart) {
    if (in == nullptr || !in->profiling || in->cpu == nullptr) return;
    int64_t t0 = thread_cpu_us();
    v8::ProfilerId old = in->profile_id;
    bool restarted = restart && start_v8_profile(in);
    if (!restarted) {
        in->profiling = false;
        v8_user(-1);
    }
    v8::CpuProfile *prof = in->cpu->Stop(old);
    if (prof != nullptr) {
        std::shared_lock<std::shared_mutex> lk(g_core_mu);
        if (g_p != nullptr) convert_profile(in, prof);
        prof->Delete();
    }
    in->counters.collections++;
    in->counters.collect_cpu_us += thread_cpu_us() - t0;
}

// ---------------------------------------------------------------- V8 heap

// Walk V8's allocation tree and report one HEAP_LIVE sample per node that
// holds live sampled objects, with the node's stack.
struct HeapWalk {
    Instance *in;
    std::vector<FrameNames> names;  // root first
    std::string fn, script;
    void visit(v8::AllocationProfile::Node *node, int depth) {
        bool pushed = false;
        if (depth > 0) {
            utf8(in->isolate, node->name, &fn);
            utf8(in->isolate, node->script_name, &script);
            const char *f = fn.c_str(), *sc = script.c_str();
            int line = node->line_number;
            map_position(in, &f, &sc, &line, node->column_number);
            names.emplace_back();
            names.back().set(f, sc, line);
            pushed = true;
        }
        int64_t objects = 0, bytes = 0;
        for (const auto &a : node->allocations) {
            objects += a.count;
            bytes += (int64_t)a.size * a.count;
        }
        if (objects > 0 && !names.empty()) emit(objects, bytes);
        for (v8::AllocationProfile::Node *c : node->children)
            visit(c, depth + 1);
        if (pushed) names.pop_back();
    }
    void emit(int64_t objects, int64_t bytes) {
        size_t n = names.size();
        std::vector<pyroscope_frame> frames(n);
        for (size_t i = 0; i < n; i++) {  // leaf first
            const FrameNames &f = names[n - 1 - i];
            frames[i].function = f.name.c_str();
            frames[i].file = f.file.empty() ? nullptr : f.file.c_str();
            frames[i].line = f.line;
        }
        int64_t v[2] = {objects, bytes};
        if (pyroscope_add_sample(g_p, PYROSCOPE_PROFILE_HEAP_LIVE, frames.data(),
                                 n, v, 2, nullptr, 0) == 0)
            in->counters.heap_samples++;
        else
            in->counters.add_errors++;
    }
};

void heap_start(Instance *in) {
    if (!g_opt.heap || in->heap) return;
    v8::HeapProfiler *hp = in->isolate->GetHeapProfiler();
    in->heap = hp->StartSamplingHeapProfiler((uint64_t)g_opt.heap_interval,
                                             g_opt.heap_depth);
}

void heap_snapshot(Instance *in) {
    std::shared_lock<std::shared_mutex> lk(g_core_mu);
    if (in == nullptr || !in->heap || g_p == nullptr) return;
    v8::HandleScope scope(in->isolate);
    v8::AllocationProfile *ap = in->isolate->GetHeapProfiler()->GetAllocationProfile();
    if (ap == nullptr) return;
    HeapWalk w{in, {}, {}, {}};
    w.visit(ap->GetRootNode(), 0);
    delete ap;
    in->counters.heap_snapshots++;
}

void heap_stop(Instance *in) {
    if (!in->heap) return;
    in->isolate->GetHeapProfiler()->StopSamplingHeapProfiler();
    in->heap = false;
}

// ---------------------------------------------------------------- instances

// Begin profiling the calling isolate.  `cell` is its label cell.
Instance *instance_start(napi_env env, napi_value cell, int thread_id,
                         bool cpu, bool heap) {
    Instance *in = new Instance;
    in->env = env;
    in->isolate = v8::Isolate::GetCurrent();
    in->thread_id = thread_id;
    volatile int32_t *cellp = nullptr;
    bool is_ta = false;
    if (cell != nullptr && napi_is_typedarray(env, cell, &is_ta) == napi_ok && is_ta) {
        napi_typedarray_type tt;
        size_t len;
        void *data;
        if (napi_get_typedarray_info(env, cell, &tt, &len, &data, nullptr,
                                     nullptr) == napi_ok &&
            tt == napi_int32_array && len >= 1 &&
            napi_create_reference(env, cell, 1, &in->cell_ref) == napi_ok)
            cellp = (volatile int32_t *)data;
    }
    in->slot = claim_slot(cellp);
    if (cpu && (g_opt.cpu || g_opt.wall)) {
        in->cpu = v8::CpuProfiler::New(in->isolate, v8::kDebugNaming,
                                       v8::kLazyLogging);
        in->cpu->SetSamplingInterval(g_opt.interval_us);
        in->cpu->SetUsePreciseSampling(false);
        if (in->slot >= 0)
            in->ring_tail = g_slots[in->slot].head.load();
        if (start_v8_profile(in)) v8_user(1);
    }
    if (heap) heap_start(in);
    {
        std::lock_guard<std::mutex> g(g_lock);
        g_instances.push_back(in);
    }
    t_inst = in;
    return in;
}

void instance_stop(Instance *in) {
    if (in == nullptr) return;
    collect(in, false);
    heap_snapshot(in);
    heap_stop(in);
    if (in->cpu != nullptr) {
        in->cpu->Dispose();
        in->cpu = nullptr;
    }
    release_slot(in->slot);
    in->slot = -1;
    if (in->cell_ref) napi_delete_reference(in->env, in->cell_ref);
    if (in->mapper) napi_delete_reference(in->env, in->mapper);
    {
        std::lock_guard<std::mutex> g(g_lock);
        for (size_t i = 0; i < g_instances.size(); i++)
            if (g_instances[i] == in) {
                g_instances.erase(g_instances.begin() + i);
                break;
            }
    }
    if (t_inst == in) t_inst = nullptr;
    if (in->env == g_main_env) g_last_counters = in->counters;
    delete in;
}

// ---------------------------------------------------------------- JS API

// start(config) -> undefined.  config is pre-validated in lib/config.js.
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
    std::string app, server, auth, buser, bpass, tenant, cwd, strip;
    std::vector<std::string> tags, headers;
    int64_t rate = 100, upload_ms = 0, level = -1, stop_ms = 0, up_timeout = 0;
    int64_t heap_interval = 512 * 1024, heap_depth = 64, api = 0;
    prop_string(env, o, "appName", &app);
    prop_string(env, o, "serverAddress", &server);
    prop_string(env, o, "authToken", &auth);
    prop_string(env, o, "basicAuthUser", &buser);
    prop_string(env, o, "basicAuthPassword", &bpass);
    prop_string(env, o, "tenantID", &tenant);
    prop_string(env, o, "cwd", &cwd);
    prop_string(env, o, "stripFilenames", &strip);
    prop_pairs(env, o, "tags", &tags);
    prop_pairs(env, o, "httpHeaders", &headers);
    prop_int(env, o, "sampleRate", &rate);
    prop_int(env, o, "uploadIntervalMs", &upload_ms);
    prop_int(env, o, "logLevel", &level);
    prop_int(env, o, "stopTimeoutMs", &stop_ms);
    prop_int(env, o, "uploadTimeoutMs", &up_timeout);
    prop_int(env, o, "heapSamplingIntervalBytes", &heap_interval);
    prop_int(env, o, "heapStackDepth", &heap_depth);
    prop_int(env, o, "api", &api);
    g_native_threads = prop_bool(env, o, "nativeThreads");
    g_names.keep_program = prop_bool(env, o, "keepProgramSamples");
    g_opt.wall = prop_bool(env, o, "wall");
    g_opt.cpu = prop_bool(env, o, "cpu");
    g_opt.collect_cpu_time = prop_bool(env, o, "collectCpuTime");
    g_opt.heap = prop_bool(env, o, "heap");
    g_opt.heap_interval = heap_interval > 0 ? heap_interval : 512 * 1024;
    g_opt.heap_depth = heap_depth > 0 ? (int)heap_depth : 64;
    g_names.shorten_paths = prop_bool(env, o, "shortenPaths");
    g_names.strip_filenames = strip == "all" ? 1 : strip == "dependencies" ? 2 : 0;
    g_names.cwd = cwd;

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
    // V8's profilers supply the JavaScript samples; the core's own timers
    // are only needed when native stacks of other threads are wanted.
    cfg.profile_types = g_native_threads ? PYROSCOPE_PROFILE_CPU
                                         : PYROSCOPE_PROFILE_CPU_EXTERNAL;
    if (level >= 0) cfg.log_level = level == 0 ? PYROSCOPE_LOG_OFF : (int)level;
    cfg.spy_name = "nodespy";
    cfg.api = (int)api;
    cfg.stop_timeout_ms = (int)stop_ms;
    cfg.upload_timeout_ms = (int)up_timeout;
    cfg.heap_sample_interval = (size_t)g_opt.heap_interval;
    cfg.signal = pick_core_signal();

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
    g_opt.interval_us = (int)(1000000 / (rate > 0 ? rate : 100));
    if (g_opt.interval_us < 100) g_opt.interval_us = 100;
    g_p = p;
    g_main_env = env;
    napi_value cell = nullptr;
    napi_get_named_property(env, o, "labelCell", &cell);
    instance_start(env, cell, 0, prop_bool(env, o, "startCpu"),
                   prop_bool(env, o, "startHeap"));
    return undefined(env);
}

// attach(labelCell, threadId) -> boolean: profile the calling worker's
// isolate into the running profiler.
napi_value Attach(napi_env env, napi_callback_info info) {
    size_t argc = 2;
    napi_value argv[2];
    CHECK_NAPI(napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr));
    napi_value b;
    if (g_p == nullptr || t_inst != nullptr) {
        napi_get_boolean(env, false, &b);
        return b;
    }
    int32_t tid = 0;
    if (argc >= 2) napi_get_value_int32(env, argv[1], &tid);
    instance_start(env, argc >= 1 ? argv[0] : nullptr, tid, true, true);
    napi_get_boolean(env, true, &b);
    return b;
}

// detach(): stop profiling the calling worker (its last samples reported).
napi_value Detach(napi_env env, napi_callback_info info) {
    (void)info;
    if (t_inst != nullptr && env != g_main_env) instance_stop(t_inst);
    return undefined(env);
}

// startCpu() / stopCpu(), startHeap() / stopHeap() of the calling isolate.
napi_value StartCpu(napi_env env, napi_callback_info info) {
    (void)info;
    Instance *in = t_inst;
    if (in != nullptr && in->cpu == nullptr) {
        in->cpu = v8::CpuProfiler::New(in->isolate, v8::kDebugNaming,
                                       v8::kLazyLogging);
        in->cpu->SetSamplingInterval(g_opt.interval_us);
        in->cpu->SetUsePreciseSampling(false);
        if (in->slot >= 0) in->ring_tail = g_slots[in->slot].head.load();
        in->last_sample_ts = INT64_MIN;
        in->have_last_record = false;
        in->last_cpu_ns = -1;
        if (start_v8_profile(in)) v8_user(1);
    }
    return undefined(env);
}

napi_value StopCpu(napi_env env, napi_callback_info info) {
    (void)info;
    Instance *in = t_inst;
    if (in != nullptr && in->cpu != nullptr) {
        collect(in, false);
        in->cpu->Dispose();
        in->cpu = nullptr;
    }
    return undefined(env);
}

napi_value StartHeap(napi_env env, napi_callback_info info) {
    (void)info;
    if (t_inst != nullptr) heap_start(t_inst);
    return undefined(env);
}

napi_value StopHeap(napi_env env, napi_callback_info info) {
    (void)info;
    if (t_inst != nullptr) {
        heap_snapshot(t_inst);
        heap_stop(t_inst);
    }
    return undefined(env);
}

// setMapper(fn | null): the SourceMapper lookup of the calling isolate.
napi_value SetMapper(napi_env env, napi_callback_info info) {
    size_t argc = 1;
    napi_value argv[1];
    CHECK_NAPI(napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr));
    Instance *in = t_inst;
    if (in == nullptr) return undefined(env);
    if (in->mapper) napi_delete_reference(env, in->mapper);
    in->mapper = nullptr;
    in->mapped.clear();
    napi_valuetype t = napi_undefined;
    if (argc >= 1) napi_typeof(env, argv[0], &t);
    if (t == napi_function) CHECK_NAPI(napi_create_reference(env, argv[0], 1, &in->mapper));
    return undefined(env);
}

// collect() -> undefined: report what V8 sampled so far on this isolate.
napi_value Collect(napi_env env, napi_callback_info info) {
    (void)info;
    collect(t_inst, true);
    return undefined(env);
}

// heapSnapshot(): add this isolate's live sampled heap to the window.
napi_value HeapSnapshot(napi_env env, napi_callback_info info) {
    (void)info;
    if (t_inst != nullptr) heap_snapshot(t_inst);
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

// flush(timeoutMs, heap) -> Promise<boolean>: collect (and with heap=true
// add this window's heap snapshot), close the window and upload it
// off-thread.
napi_value Flush(napi_env env, napi_callback_info info) {
    size_t argc = 2;
    napi_value argv[2];
    CHECK_NAPI(napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr));
    int32_t timeout = 5000;
    bool heap = false;
    if (argc >= 1) napi_get_value_int32(env, argv[0], &timeout);
    if (argc >= 2) napi_get_value_bool(env, argv[1], &heap);
    if (g_p == nullptr) {
        napi_throw_error(env, "ESTATE", "pyroscope: not started");
        return nullptr;
    }
    collect(t_inst, true);
    if (heap) {
        // Workers report their own heap when their timers run; the main
        // thread's flush closes the window for everyone.
        heap_snapshot(t_inst);
    }
    AsyncCall *c = new AsyncCall;
    c->p = g_p;
    c->timeout_ms = timeout;
    return queue_call(env, c, "pyroscope.flush");
}

pyroscope *detach_all() {
    instance_stop(t_inst);
    std::unique_lock<std::shared_mutex> lk(g_core_mu);
    pyroscope *p = g_p;
    g_p = nullptr;
    return p;
}

// stop() -> Promise<true>: final collection, then pyroscope_stop() off-thread.
napi_value Stop(napi_env env, napi_callback_info info) {
    (void)info;
    pyroscope *p = detach_all();
    AsyncCall *c = new AsyncCall;
    c->p = p;
    c->is_stop = true;
    return queue_call(env, c, "pyroscope.stop");
}

// stopSync(): the same, blocking (process exit).
napi_value StopSync(napi_env env, napi_callback_info info) {
    (void)info;
    pyroscope_stop(detach_all());
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
    int32_t id;
    {
        std::lock_guard<std::mutex> g(g_lock);
        g_label_sets.push_back(std::move(flat));
        id = (int32_t)(g_label_sets.size() - 1);
    }
    napi_value v;
    CHECK_NAPI(napi_create_int32(env, id, &v));
    return v;
}

// ---------------------------------------------------------------- stats

void set_num(napi_env env, napi_value o, const char *k, double v) {
    napi_value n;
    napi_create_double(env, v, &n);
    napi_set_named_property(env, o, k, n);
}

// stats() -> { core: {...} | null, v8: {...} } (v8: the calling isolate)
napi_value Stats(napi_env env, napi_callback_info info) {
    (void)info;
    napi_value o, v8o;
    CHECK_NAPI(napi_create_object(env, &o));
    CHECK_NAPI(napi_create_object(env, &v8o));
    Counters c;
    c = t_inst != nullptr ? t_inst->counters : g_last_counters;
    set_num(env, v8o, "samples", (double)c.v8_samples);
    set_num(env, v8o, "reported", (double)c.reported);
    set_num(env, v8o, "idle", (double)c.idle);
    set_num(env, v8o, "labelled", (double)c.labelled);
    set_num(env, v8o, "unmatched", (double)c.unmatched);
    set_num(env, v8o, "addErrors", (double)c.add_errors);
    set_num(env, v8o, "collections", (double)c.collections);
    set_num(env, v8o, "heapSnapshots", (double)c.heap_snapshots);
    set_num(env, v8o, "heapSamples", (double)c.heap_samples);
    set_num(env, v8o, "maxGapUs", (double)c.max_gap_us);
    set_num(env, v8o, "collectCpuUs", (double)c.collect_cpu_us);
    set_num(env, v8o, "instances", (double)g_instances.size());
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
        set_num(env, core, "overheadNs", (double)st.overhead_ns);
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
    // Teardown of an environment without stop(): a worker's isolate stops
    // being profiled; the main environment also stops the core.
    napi_env env = static_cast<napi_env>(arg);
    if (t_inst != nullptr && t_inst->env == env) instance_stop(t_inst);
    if (g_p != nullptr && env == g_main_env) {
        pyroscope_stop(detach_all());
        g_main_env = nullptr;
    }
}

}  // namespace

NAPI_MODULE_INIT() {
    static const struct {
        const char *name;
        napi_callback cb;
    } fns[] = {
        {"start", Start},         {"attach", Attach},
        {"detach", Detach},       {"collect", Collect},
        {"startCpu", StartCpu},   {"stopCpu", StopCpu},
        {"startHeap", StartHeap}, {"stopHeap", StopHeap},
        {"heapSnapshot", HeapSnapshot}, {"setMapper", SetMapper},
        {"flush", Flush},         {"stop", Stop},
        {"stopSync", StopSync},   {"tagCheck", TagCheck},
        {"registerLabelSet", RegisterLabelSet},
        {"pullStart", PullStart}, {"pullStop", PullStop},
        {"pullHeap", PullHeap},
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
