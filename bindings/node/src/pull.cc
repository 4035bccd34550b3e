#include "pull.h"

#include <v8.h>
#include <v8-profiler.h>

#include <unordered_map>

#include "frames.h"

namespace pyro_node {

// pullStart(intervalUs) -> handle: a separate V8 profile of this isolate
// for /debug/pprof/profile; pullStop(handle) -> [[count, frames...]...]
// where frames are [name, file, line] leaf first.
struct Pull {
    v8::CpuProfiler *cpu;
    v8::ProfilerId id;
    v8::Isolate *isolate;
};

static void pull_finalize(napi_env, void *data, void *) {
    Pull *pl = static_cast<Pull *>(data);
    if (pl->cpu != nullptr) pl->cpu->Dispose();
    delete pl;
}

napi_value PullStart(napi_env env, napi_callback_info info) {
    size_t argc = 1;
    napi_value argv[1];
    CHECK_NAPI(napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr));
    int32_t interval = 10000;
    if (argc >= 1) napi_get_value_int32(env, argv[0], &interval);
    if (interval < 100) interval = 100;
    Pull *pl = new Pull;
    pl->isolate = v8::Isolate::GetCurrent();
    pl->cpu = v8::CpuProfiler::New(pl->isolate, v8::kDebugNaming,
                                   v8::kLazyLogging);
    pl->cpu->SetSamplingInterval(interval);
    v8::CpuProfilingOptions opts(v8::kLeafNodeLineNumbers,
                                 v8::CpuProfilingOptions::kNoSampleLimit,
                                 interval);
    v8::CpuProfilingResult r = pl->cpu->Start(std::move(opts));
    pl->id = r.id;
    napi_value ext;
    CHECK_NAPI(napi_create_external(env, pl, pull_finalize, nullptr, &ext));
    return ext;
}

static napi_value frame_array(napi_env env, const FrameNames &f) {
    napi_value a, s, n;
    napi_create_array_with_length(env, 3, &a);
    napi_create_string_utf8(env, f.name.c_str(), f.name.size(), &s);
    napi_set_element(env, a, 0, s);
    napi_create_string_utf8(env, f.file.c_str(), f.file.size(), &s);
    napi_set_element(env, a, 1, s);
    napi_create_int32(env, f.line, &n);
    napi_set_element(env, a, 2, n);
    return a;
}

napi_value PullStop(napi_env env, napi_callback_info info) {
    size_t argc = 1;
    napi_value argv[1];
    CHECK_NAPI(napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr));
    void *data = nullptr;
    if (argc < 1 || napi_get_value_external(env, argv[0], &data) != napi_ok ||
        data == nullptr || static_cast<Pull *>(data)->cpu == nullptr) {
        napi_throw_type_error(env, nullptr, "pullStop(handle)");
        return nullptr;
    }
    Pull *pl = static_cast<Pull *>(data);
    v8::CpuProfile *prof = pl->cpu->Stop(pl->id);
    napi_value out;
    CHECK_NAPI(napi_create_array(env, &out));
    if (prof != nullptr) {
        std::unordered_map<const v8::CpuProfileNode *, int64_t> counts;
        for (int i = 0; i < prof->GetSamplesCount(); i++) {
            const v8::CpuProfileNode *nd = prof->GetSample(i);
            if (nd != nullptr && !is_idle_name(nd->GetFunctionNameStr()))
                counts[nd]++;
        }
        uint32_t k = 0;
        for (auto &kv : counts) {
            napi_value entry, num;
            napi_create_array(env, &entry);
            napi_create_int64(env, kv.second, &num);
            napi_set_element(env, entry, 0, num);
            uint32_t j = 1;
            FrameNames f;
            for (const v8::CpuProfileNode *nd = kv.first;
                 nd != nullptr && nd->GetParent() != nullptr; nd = nd->GetParent()) {
                f.set(nd->GetFunctionNameStr(), nd->GetScriptResourceNameStr(),
                      nd->GetLineNumber());
                napi_set_element(env, entry, j++, frame_array(env, f));
            }
            napi_set_element(env, out, k++, entry);
        }
        prof->Delete();
    }
    pl->cpu->Dispose();
    pl->cpu = nullptr;
    return out;
}

// pullHeap() -> [[objects, bytes, frames...]...] | null: the live sampled
// heap of this isolate (null when heap sampling is off).
struct PullHeapWalk {
    napi_env env;
    v8::Isolate *isolate;
    napi_value out;
    uint32_t k = 0;
    std::vector<FrameNames> stack;
    std::string fn, script;
    void visit(v8::AllocationProfile::Node *node, int depth) {
        if (depth > 0) {
            utf8(isolate, node->name, &fn);
            utf8(isolate, node->script_name, &script);
            stack.emplace_back();
            stack.back().set(fn.c_str(), script.c_str(), node->line_number);
        }
        int64_t objects = 0, bytes = 0;
        for (const auto &a : node->allocations) {
            objects += a.count;
            bytes += (int64_t)a.size * a.count;
        }
        if (objects > 0 && !stack.empty()) {
            napi_value entry, num;
            napi_create_array(env, &entry);
            napi_create_int64(env, objects, &num);
            napi_set_element(env, entry, 0, num);
            napi_create_int64(env, bytes, &num);
            napi_set_element(env, entry, 1, num);
            uint32_t j = 2;
            for (size_t i = stack.size(); i-- > 0;)
                napi_set_element(env, entry, j++,
                                 frame_array(env, stack[i]));
            napi_set_element(env, out, k++, entry);
        }
        for (v8::AllocationProfile::Node *c : node->children) visit(c, depth + 1);
        if (depth > 0) stack.pop_back();
    }
};

napi_value PullHeap(napi_env env, napi_callback_info info) {
    (void)info;
    v8::Isolate *iso = v8::Isolate::GetCurrent();
    v8::AllocationProfile *ap = iso->GetHeapProfiler()->GetAllocationProfile();
    napi_value out;
    if (ap == nullptr) {
        napi_get_null(env, &out);
        return out;
    }
    CHECK_NAPI(napi_create_array(env, &out));
    PullHeapWalk w{env, iso, out, 0, {}, {}, {}};
    w.visit(ap->GetRootNode(), 0);
    delete ap;
    return out;
}

}  // namespace pyro_node
