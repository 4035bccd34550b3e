#include "frames.h"

#include <string.h>

namespace pyro_node {

NameOptions g_names;

void FrameNames::set(const char *fn, const char *script, int line_number) {
    int line = line_number > 0 ? line_number : 0;
    this->line = line;
    if (fn == nullptr || *fn == '\0') fn = "(anonymous)";
    file.assign(script ? script : "");
    if (file.empty() || (strchr(fn, ':') && strncmp(fn, "(anonymous", 10))) {
        name.assign(fn);
    } else {
        std::string shown;
        size_t nm = std::string::npos;
        if (g_names.shorten_paths) {
            nm = file.rfind("node_modules/");
            if (nm != std::string::npos) shown = file.substr(nm + 13);
        }
        if (nm == std::string::npos) {
            shown = file;
            size_t at = g_names.cwd.empty() ? std::string::npos
                                          : shown.find(g_names.cwd);
            if (at != std::string::npos)
                shown.replace(at, g_names.cwd.size(), ".");
        }
        name = shown + ":" + fn + ":" + std::to_string(line);
    }
    if (g_names.strip_filenames == 1 ||
        (g_names.strip_filenames == 2 &&
         file.find("node_modules/") != std::string::npos))
        file.clear();
}

bool is_idle_name(const char *name) {
    return strcmp(name, "(idle)") == 0 ||
           (!g_names.keep_program && strcmp(name, "(program)") == 0);
}

void utf8(v8::Isolate *iso, v8::Local<v8::String> s, std::string *out) {
    out->clear();
    if (s.IsEmpty()) return;
    v8::String::Utf8Value u(iso, s);
    if (*u) out->assign(*u, u.length());
}

}  // namespace pyro_node
